// `bptt-wasm export`: a checkpoint as an ONNX file that ONNX Runtime runs (writeOnnx: one
// RNN/LSTM/GRU node per layer, the head as MatMul + Add, dynamic T and B).

import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { writeOnnx } from '../io/onnx-write.js';
import { UserError, checkWritable, fmtInt, intArg, libraryErrorMessage, out } from './common.js';
import { loadCliCheckpoint } from './load.js';

interface ExportOpts { checkpoint: string; out: string; opset: number; initialState?: boolean; lengths?: boolean }

export function registerExport(program: Command): void {
  program.command('export')
    .description('write a checkpoint as an ONNX model (ONNX Runtime and other ONNX tools run it)')
    .requiredOption('--checkpoint <file>', 'a .safetensors file written by train, demo or saveCheckpoint')
    .requiredOption('--out <file>', 'the .onnx file to write')
    .option('--opset <n>', 'ONNX opset (11 to 21)', intArg(11), 17)
    .option('--initial-state', 'add graph inputs h0 (and c0 for an LSTM); without it the graph starts from zeros')
    .option('--lengths', 'add a graph input `lengths` [B] (int32): PyTorch packed-sequence lengths')
    .action(async (o: ExportOpts) => {
      checkWritable(o.out, '--out');
      const loaded = await loadCliCheckpoint(o.checkpoint, 'js');
      try {
        let bytes: Uint8Array;
        try {
          bytes = writeOnnx(loaded.model, { opset: o.opset, initialState: o.initialState ?? false, sequenceLens: o.lengths ?? false });
        } catch (e) {
          const msg = libraryErrorMessage(e);
          if (msg === undefined) throw e;
          throw new UserError(`cannot export ${o.checkpoint}: ${msg}`);
        }
        writeFileSync(o.out, bytes);
        const c = loaded.model.config;
        out(`wrote ${o.out} (${fmtInt(bytes.length)} bytes, opset ${o.opset}): ${c.cell} ${c.numLayers} layer(s), hidden ${c.hiddenSize}, ` +
          `inputs x ${c.embedding ? '[T, B] int64 token ids' : `[T, B, ${c.inputSize}]`}${o.initialState ? ', h0' + (c.cell === 'lstm' ? ', c0' : '') : ''}${o.lengths ? ', lengths' : ''}`);
      } finally {
        loaded.model.dispose();
      }
    });
}
