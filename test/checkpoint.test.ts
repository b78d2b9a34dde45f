// Checkpoints: a saved model loads back bit-exactly; a checkpoint with optimizer (and
// scheduler) state resumes training bit-exactly as if it had never stopped; the shared
// PyTorch-written files load through loadCheckpoint from their snake_case config; files
// without a config, or corrupt, get clear errors.

import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointBytes } from '../src/io/checkpoint.js';
import { loadCheckpoint, loadTrainingCheckpoint, saveCheckpoint } from '../src/io/checkpoint-file.js';
import { createModel, type Model } from '../src/model.js';
import { Adam, createOptimizer, type Optimizer, type OptimizerKind } from '../src/train/optim.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { StepLR } from '../src/train/schedulers.js';
import { fixturePath, listFixtures } from './helpers/fixtures.js';
import { expectScalarClose } from './helpers/compare.js';
import { createModelOn, on, PATHS, track } from './helpers/variants.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fx = any;

const dir = mkdtempSync(join(tmpdir(), 'bptt-ckpt-'));
const x = { shape: [6, 3, 2], data: Float32Array.from({ length: 36 }, (_, i) => Math.sin(0.7 * i)) };
const target = { shape: [6, 3], data: Int32Array.from({ length: 18 }, (_, i) => (i * 7) % 4) };
const loss = { kind: 'cross_entropy', reduction: 'mean' } as const;

function train(m: Model, opt: Optimizer, steps: number, sched?: StepLR) {
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    m.lossAndGrad({ x, target }, loss);
    opt.step();
    sched?.step();
  }
}

describe.each(PATHS)('checkpoints on %s', (via) => {
  const slug = via.replace(/\W+/g, '-');
  it.each(['rnn', 'lstm', 'gru'] as const)('%s: save -> load is bit-exact and keeps the options', async (cell) => {
    const m = await createModelOn(via, { cell, inputSize: 2, hiddenSize: 5, numLayers: 2, outputSize: 4, seed: 11, init: 'orthogonal' });
    const path = join(dir, `${slug}-${cell}.safetensors`);
    await saveCheckpoint(m, path);
    const { model, optimizer, metadata } = await loadTrainingCheckpoint(path, on(via));
    track(model);
    expect(optimizer).toBeUndefined();
    expect(model.paramView()).toEqual(m.paramView());
    expect(model.options).toEqual(m.options);
    expect(model.sweep.kind).toBe(on(via).backend);
    expect(model.info().threads).toBe(on(via).threads);
    expect(JSON.parse(metadata.config)).toEqual({
      cell, input_size: 2, hidden_size: 5, output_size: 4, num_layers: 2, bias: true, ...(cell === 'rnn' ? { nonlinearity: 'tanh' } : {}),
    });
    expect(metadata.format).toBe('pt');
    // PyTorch state-dict names only (no optimizer keys without an optimizer)
    expect(Object.keys(readSafetensors(readFileSync(path)).tensors).sort()).toEqual(Object.keys(m.stateDict()).sort());
  });

  it.each(['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'] as const)('%s: resuming from a checkpoint continues bit-exactly', async (kind: OptimizerKind) => {
    const opts = { lr: 0.02, ...(kind === 'sgd' ? { momentum: 0.9, nesterov: true } : {}), ...(kind === 'adam' ? { amsgrad: true } : {}),
      ...(kind === 'rmsprop' ? { centered: true, momentum: 0.5 } : {}), ...(kind === 'adagrad' ? { lrDecay: 0.01, initialAccumulatorValue: 0.1 } : {}) };
    const create = () => createModelOn(via, { cell: 'lstm', inputSize: 2, hiddenSize: 4, outputSize: 4, seed: 5 });
    // never stopped: 8 steps
    const a = await create();
    const oa = createOptimizer(kind, a, opts);
    const sa = new StepLR(oa, { stepSize: 3, gamma: 0.5 });
    train(a, oa, 8, sa);
    // stopped after 5, saved, loaded into a fresh process-like state, 3 more
    const b = await create();
    const ob = createOptimizer(kind, b, opts);
    const sb = new StepLR(ob, { stepSize: 3, gamma: 0.5 });
    train(b, ob, 5, sb);
    const path = join(dir, `${slug}-resume-${kind}.safetensors`);
    await saveCheckpoint(b, path, { optimizer: ob, scheduler: sb });
    const loaded = await loadTrainingCheckpoint(path, on(via));
    const c = track(loaded.model);
    const oc = loaded.optimizer!;
    expect(oc.kind).toBe(kind);
    expect(oc.stepCount).toBe(5);
    expect(oc.lr).toBe(ob.lr);
    const sc = new StepLR(oc, { stepSize: 3, gamma: 0.5 });
    sc.loadStateDict(loaded.schedulerState!);
    train(c, oc, 3, sc);
    expect(c.paramView()).toEqual(a.paramView());
    expect(oc.lr).toBe(oa.lr);
    // optimizer tensors carry torch's state names and the parameter shapes
    const names = Object.keys(readSafetensors(readFileSync(path)).tensors);
    const expected = { sgd: 'momentum_buffer', adam: 'max_exp_avg_sq', adamw: 'exp_avg_sq', rmsprop: 'grad_avg', adagrad: 'sum' }[kind];
    expect(names).toContain(`optimizer.${expected}.rnn.weight_hh_l0`);
  });

  it.each(listFixtures().filter((f) => fixturePath(f.name, 'safetensors')).map((f) => [f.name, f.json]))(
    'loadCheckpoint builds %s from the PyTorch file and reproduces its loss', async (name, fx: Fx) => {
      const model = track(await loadCheckpoint(fixturePath(name as string, 'safetensors')!, on(via)));
      expect(model.config.cell).toBe(fx.config.cell);
      expect(model.config.numLayers).toBe(fx.config.num_layers);
      const ce = fx.loss.kind === 'cross_entropy';
      const r = model.lossAndGrad({
        x: fx.x, target: ce ? { shape: fx.target.shape, data: Int32Array.from(fx.target.data) } : fx.target,
        ...(fx.h0 ? { h0: fx.h0 } : {}), ...(fx.c0 ? { c0: fx.c0 } : {}),
      }, { kind: fx.loss.kind, reduction: fx.loss.reduction, lastStepOnly: fx.loss.last_step_only });
      expectScalarClose('loss', r.loss, fx.loss_value, 2e-5);
    });
});

describe('checkpoint errors and atomicity', () => {
  it('a file without a config says to create the model and call loadStateDict', async () => {
    const m = await createModel({ cell: 'gru', inputSize: 2, hiddenSize: 3, outputSize: 2, backend: 'js' });
    const path = join(dir, 'no-config.safetensors');
    writeFileSync(path, writeSafetensors(m.stateDict(), { format: 'pt' }));
    await expect(loadCheckpoint(path)).rejects.toThrow(/has no model config in its metadata.*createModel.*loadStateDict/);
  });

  it('corrupt and truncated files name the file and the problem', async () => {
    const m = await createModel({ cell: 'lstm', inputSize: 2, hiddenSize: 3, outputSize: 2, backend: 'js' });
    const bytes = checkpointBytes(m, { optimizer: new Adam(m) });
    const trunc = join(dir, 'truncated.safetensors');
    writeFileSync(trunc, bytes.subarray(0, bytes.length - 10));
    await expect(loadCheckpoint(trunc)).rejects.toThrow(/cannot read checkpoint '.*truncated.safetensors': safetensors: tensor '.*': data_offsets .* run past/);
    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, 'this is not a checkpoint at all');
    await expect(loadCheckpoint(garbage)).rejects.toThrow(/cannot read checkpoint .*garbage.safetensors.*(header length|JSON)/);
    // a config that does not match the tensors
    const { tensors, metadata } = readSafetensors(bytes);
    const wrong = join(dir, 'wrong-config.safetensors');
    writeFileSync(wrong, writeSafetensors(tensors, { ...metadata, 'bptt_wasm.options': JSON.stringify({ ...m.options, hiddenSize: 4 }) }));
    await expect(loadCheckpoint(wrong)).rejects.toThrow(/does not match its own config: .*shape/);
    await expect(loadCheckpoint(join(dir, 'missing.safetensors'))).rejects.toThrow(/ENOENT/);
  });

  it('writes atomically: overwrites in place and leaves no temporary files', async () => {
    const sub = mkdtempSync(join(tmpdir(), 'bptt-atomic-'));
    const path = join(sub, 'model.safetensors');
    const m1 = await createModel({ cell: 'rnn', inputSize: 2, hiddenSize: 3, outputSize: 1, backend: 'js', seed: 1 });
    const m2 = await createModel({ cell: 'rnn', inputSize: 2, hiddenSize: 3, outputSize: 1, backend: 'js', seed: 2 });
    await saveCheckpoint(m1, path);
    await saveCheckpoint(m2, path);
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
    expect((await loadCheckpoint(path)).paramView()).toEqual(m2.paramView());
    await expect(saveCheckpoint(m1, join(sub, 'no', 'such', 'dir.safetensors'))).rejects.toThrow(/ENOENT/);
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
  });
});
