// The workspace is sized per call, reused, and capped (issue #9 item 6); predict equals
// forward; compact() moves the persistent state into a fresh memory without changing a bit.
// On every compute path.

import { afterAll, describe, expect, it } from 'vitest';
import { Adam, BpttError, createModel, type CreateModelOptions, type Model } from '../src/index.js';
import { alignedFloats } from '../src/arena.js';
import { buildLayout, buildWorkspace, IO_BUFFERS, type Region, type Workspace } from '../src/layout.js';

const live: Model[] = [];
afterAll(() => live.forEach((m) => m.dispose()));
const PATHS = ['wasm', 'js', 'wasm, 2 threads'] as const;
type Path = (typeof PATHS)[number];

async function make(path: Path, opts: Partial<CreateModelOptions> = {}): Promise<Model> {
  const m = await createModel({ cell: 'gru', inputSize: 1, hiddenSize: 32, outputSize: 1, seed: 3, ...opts,
    backend: path === 'js' ? 'js' : 'wasm', threads: path === 'wasm, 2 threads' ? 2 : 1 } as CreateModelOptions);
  live.push(m);
  return m;
}

const seq = (shape: number[], k = 1) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37 * k)) });
const MiB = 2 ** 20;

describe.each(PATHS)('the workspace on %s', (path) => {
  it('a T=2000, B=1 forward then a T=1, B=2000 forward: memory in use is what the second call needs', async () => {
    const m = await make(path);
    const base = m.info().memoryBytes;
    m.forward(seq([2000, 1, 1]));
    const afterLong = m.info().memoryBytes;
    const y = m.forward(seq([1, 2000, 1]));
    expect(y.output.shape).toEqual([1, 2000, 1]);
    const info = m.info();
    // a fresh model that only ran the second call uses exactly as much
    const fresh = await make(path);
    fresh.forward(seq([1, 2000, 1]));
    expect(info.memoryBytes).toBe(fresh.info().memoryBytes);
    expect(info.persistentBytes).toBe(base);
    // both calls hold 2000 rows: a workspace of a few MiB, not max T x max B (was ~3 GiB)
    expect(afterLong - base).toBeLessThan(8 * MiB);
    expect(info.memoryBytes - base).toBeLessThan(8 * MiB);
    expect(info.capacityBytes).toBeLessThan(32 * MiB);
    // and training on the long one after the wide one still gives the same numbers as a fresh model
    const batch = { x: seq([300, 2, 1]), target: seq([300, 2, 1], 2) };
    const loss = { kind: 'mse', reduction: 'mean' } as const;
    const a = m.lossAndGrad(batch, loss), b = fresh.lossAndGrad(batch, loss);
    expect(a.loss).toBe(b.loss);
    expect(Array.from(m.gradView())).toEqual(Array.from(fresh.gradView()));
  }, 30_000);

  // From 16 steps of fewer than 4 rows, the Wasm forward packs W_hh into row groups for its
  // per-step product (gemm_nt_dot); with fewer steps it reads W_hh as stored. Same bits.
  // (Calls of 10 steps keep the all-timestep products on the same kernels as one of 40: at
  // least 4 rows each.)
  it('a forward of 40 steps of 1-3 sequences gives, bit for bit, what four calls of 10 steps give', async () => {
    for (const cell of ['rnn', 'lstm', 'gru'] as const) {
      for (const B of [1, 3]) {
        // hidden 13: gate rows 13 / 52 / 39 (whole groups of 6 and leftover rows), k tail 1
        const m = await make(path, { cell, inputSize: 3, hiddenSize: 13, outputSize: 2, numLayers: 2 });
        const T = 40, S = 10;
        const x = seq([T, B, 3]);
        const whole = m.forward(x);
        let h: { shape: number[]; data: Float32Array } | undefined, c: typeof h;
        for (let t0 = 0; t0 < T; t0 += S) {
          const r = m.forward({ shape: [S, B, 3], data: x.data.subarray(t0 * B * 3, (t0 + S) * B * 3) }, { h0: h, c0: c });
          const want = whole.output.data.subarray(t0 * B * 2, (t0 + S) * B * 2);
          const i = r.output.data.findIndex((v, j) => !Object.is(v, want[j]));
          expect(i, `${cell} B=${B} steps ${t0}..: output[${i}] ${r.output.data[i]} vs ${want[i]}`).toBe(-1);
          h = r.hN as typeof h;
          c = r.cN as typeof h;
        }
        expect(Array.from(h!.data)).toEqual(Array.from(whole.hN.data));
        if (cell === 'lstm') expect(Array.from(c!.data)).toEqual(Array.from(whole.cN!.data));
      }
    }
  });

  it('a call whose workspace passes the cap fails up front, says what it needs, and changes nothing', async () => {
    const m = await make(path);
    m.maxWorkspaceBytes = MiB;
    const before = m.stateDict();
    let err: unknown;
    try {
      m.lossAndGrad({ x: seq([500, 8, 1]), target: seq([500, 8, 1]) }, { kind: 'mse', reduction: 'mean' });
    } catch (e) { err = e; }
    expect(err).toBeInstanceOf(BpttError);
    expect(String(err)).toMatch(/T = 500, B = 8 needs [\d.]+ MiB of workspace, more than the cap model\.maxWorkspaceBytes = 1\.0 MiB; use a smaller batch/);
    expect(() => m.forward(seq([500, 8, 1]))).toThrow(/model\.predict\(x, \{ batchSize \}\)/);
    expect(Array.from(m.gradView()).every((v) => v === 0)).toBe(true);
    expect(m.stateDict()).toEqual(before);
    // predict runs the same input in batches under the cap
    const p = m.predict(seq([500, 8, 1]), { batchSize: 2 });
    m.maxWorkspaceBytes = 2 ** 30;
    expect(Array.from(p.data)).toEqual(Array.from(m.predict(seq([500, 8, 1]), { batchSize: 2 }).data));
    expect(() => { m.maxWorkspaceBytes = 0; }).toThrow(/maxWorkspaceBytes must be an integer in \[1, 2147483648\], got 0/);
  });

  it('persistent state allocated after a large call (an optimizer) starts from zero, as on a fresh model', async () => {
    const m = await make(path), fresh = await make(path);
    m.forward(seq([400, 16, 1])); // leaves non-zero values where the optimizer state will go
    const batch = { x: seq([20, 3, 1]), target: seq([20, 3, 1], 3) };
    const loss = { kind: 'mse', reduction: 'mean' } as const;
    const run = (model: Model) => {
      const opt = new Adam(model, { lr: 0.01 });
      for (let s = 0; s < 3; s++) { opt.zeroGrad(); model.lossAndGrad(batch, loss); opt.step(); }
      return opt.stateDict();
    };
    const sa = run(m), sb = run(fresh);
    expect(Array.from(m.paramView())).toEqual(Array.from(fresh.paramView()));
    expect(JSON.stringify(sa)).toBe(JSON.stringify(sb));
  });

  it('predict equals forward: lengths, h0/c0, bidirectional, 2 layers, batch-first, any batchSize', async () => {
    for (const batchFirst of [false, true]) {
      const m = await make(path, { cell: 'lstm', inputSize: 3, hiddenSize: 6, numLayers: 2, bidirectional: true, outputSize: 2, batchFirst });
      const T = 9, B = 7;
      const x = seq(batchFirst ? [B, T, 3] : [T, B, 3]);
      const lengths = [9, 3, 5, 9, 1, 7, 2];
      const h0 = seq([4, B, 6], 5), c0 = seq([4, B, 6], 7);
      const f = m.forward(x, { lengths, h0, c0 });
      for (const batchSize of [1, 3, 7, 100]) {
        const p = m.predict(x, { lengths, h0, c0, batchSize });
        expect(p.shape).toEqual(f.output.shape);
        for (let i = 0; i < p.data.length; i++) expect(p.data[i]).toBeCloseTo(f.output.data[i], 5);
        // x as a plain array (blocks copied element by element, not with set()): the same numbers
        const plain = m.predict({ shape: x.shape, data: Array.from(x.data) }, { lengths, h0, c0, batchSize });
        expect(Array.from(plain.data)).toEqual(Array.from(p.data));
        const last = m.predict(x, { lengths, h0, c0, batchSize, lastStepOnly: true });
        expect(last.shape).toEqual([B, 2]);
        for (let b = 0; b < B; b++) {
          for (let o = 0; o < 2; o++) {
            const at = batchFirst ? (b * T + lengths[b] - 1) * 2 + o : ((lengths[b] - 1) * B + b) * 2 + o;
            expect(last.data[b * 2 + o]).toBeCloseTo(f.output.data[at], 5);
          }
        }
      }
      // the default batch size gives the same
      const p = m.predict(x, { lengths, h0, c0 });
      for (let i = 0; i < p.data.length; i++) expect(p.data[i]).toBeCloseTo(f.output.data[i], 5);
    }
  });

  it('a forward in time chunks (T x B past 2,048 rows, wasm) gives the training path\'s output and states', async () => {
    const cases: Partial<CreateModelOptions>[] = [
      { cell: 'lstm', inputSize: 3, hiddenSize: 8, numLayers: 2, outputSize: 2 },
      { cell: 'gru', inputSize: 3, hiddenSize: 8, outputSize: null },
      { cell: 'rnn', nonlinearity: 'relu', inputSize: 3, hiddenSize: 8, numLayers: 2, outputSize: 3, bias: false },
    ];
    for (const opts of cases) {
      const m = await make(path, opts);
      const T = 600, B = 8; // 4,800 rows: chunks of 256 steps, the last one partial
      const x = seq([T, B, 3]);
      const lengths = [600, 17, 256, 257, 599, 1, 300, 600];
      const h0 = seq([opts.numLayers ?? 1, B, 8], 3);
      const c0 = opts.cell === 'lstm' ? seq([2, B, 8], 5) : undefined;
      const f = m.forward(x, { lengths, h0, c0 });
      const O = m.layout.outputWidth;
      const r = m.lossAndGrad({ x, target: seq([T, B, O]), lengths, h0, c0 }, { kind: 'mse', reduction: 'sum' });
      const close = (a: Float32Array, b: Float32Array) => {
        expect(a.length).toBe(b.length);
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        expect(worst).toBeLessThan(1e-5);
      };
      close(f.output.data, r.output.data);
      close(f.hN.data, r.hN.data);
      if (c0) close(f.cN!.data, r.cN!.data);
      const last = m.predict(x, { lengths, h0, c0, lastStepOnly: true, batchSize: 5 });
      for (let b = 0; b < B; b++) {
        for (let o = 0; o < O; o++) expect(last.data[b * O + o]).toBeCloseTo(r.output.data[((lengths[b] - 1) * B + b) * O + o], 5);
      }
    }
  }, 30_000);

  it('predict rejects bad options with a BpttError naming them', async () => {
    const m = await make(path);
    expect(() => m.predict(seq([4, 2, 1]), { batchSize: 0 })).toThrow(/predict: batchSize must be an integer >= 1, got 0/);
    expect(() => m.predict(seq([4, 2, 1]), { lastStepOnly: 1 as unknown as boolean })).toThrow(/lastStepOnly must be a boolean/);
    expect(() => m.predict(seq([4, 2, 1]), { batch_size: 2 } as never)).not.toThrow(); // PyTorch-style alias
    expect(() => m.predict(seq([4, 2, 1]), { bogus: 1 } as never)).toThrow(BpttError);
    expect(() => m.predict(seq([4, 2, 1]), { lengths: [5, 1] })).toThrow(/lengths\[0\] = 5, expected an integer in \[1, 4\]/);
  });

  it('compact() gives memory back and changes no number: forward and an Adam step are bit-identical', async () => {
    const m = await make(path, { cell: 'lstm', inputSize: 2, hiddenSize: 16, outputSize: 2 });
    const twin = await make(path, { cell: 'lstm', inputSize: 2, hiddenSize: 16, outputSize: 2 });
    const batch = { x: seq([30, 4, 2]), target: seq([30, 4, 2], 2) };
    const loss = { kind: 'mse', reduction: 'mean' } as const;
    const oa = new Adam(m, { lr: 0.01 }), ob = new Adam(twin, { lr: 0.01 });
    const step = (model: Model, opt: Adam) => { opt.zeroGrad(); const r = model.lossAndGrad(batch, loss); opt.step(); return r.loss; };
    for (let s = 0; s < 3; s++) expect(step(m, oa)).toBe(step(twin, ob));
    m.forward(seq([4000, 16, 2])); // a large call: the memory grows to hold it
    const big = m.info().capacityBytes;
    const y0 = m.forward(batch.x).output.data;
    await m.compact();
    const info = m.info();
    expect(info.capacityBytes).toBeLessThan(big / 4);
    expect(info.capacityBytes - info.persistentBytes).toBeLessThan(65536);
    expect(info.memoryBytes).toBe(info.persistentBytes);
    expect(Array.from(m.forward(batch.x).output.data)).toEqual(Array.from(y0));
    expect(Array.from(m.paramView())).toEqual(Array.from(twin.paramView()));
    for (let s = 0; s < 2; s++) expect(step(m, oa)).toBe(step(twin, ob));
    expect(Array.from(m.paramView())).toEqual(Array.from(twin.paramView()));
    expect(oa.stepCount).toBe(5);
    expect(JSON.stringify(oa.stateDict())).toBe(JSON.stringify(ob.stateDict()));
    // a wide batch still splits across the threads after the workers restarted
    const wide = { x: seq([10, 9, 2]), target: seq([10, 9, 2], 4) };
    expect(m.lossAndGrad(wide, loss).loss).toBe(twin.lossAndGrad(wide, loss).loss);
  }, 30_000);
});

describe('the workspace table (buildWorkspace)', () => {
  const layout = buildLayout({ cell: 'lstm', nonlinearity: 'tanh', inputSize: 3, hiddenSize: 5, numLayers: 2, outputSize: 4,
    bias: true, bidirectional: true, dropout: 0.5 });
  const regions = (ws: Workspace): Array<[string, Region]> => [
    ...Object.entries(ws.io),
    ...(ws.wasm ? ws.wasm.cells.flatMap((c, i) => Object.entries(c).map(([k, r]) => [`cell${i}.${k}`, r] as [string, Region])) : []),
    ...(ws.wasm ? Object.entries(ws.wasm.shared) : []),
    ...(ws.js ? ws.js.cells.flatMap((c, i) => Object.entries(c).map(([k, r]) => [`cell${i}.${k}`, r] as [string, Region])) : []),
    ...(ws.js ? ws.js.layers.flatMap((c, i) => Object.entries(c).map(([k, r]) => [`layer${i}.${k}`, r] as [string, Region])) : []),
  ];

  it.each([['wasm'], ['js'], [null]] as const)('names every buffer, each aligned and apart from the others, inside its size (%s)', (sweep) => {
    for (const train of [true, false]) {
      for (const dropout of [true, false]) {
        const ws = buildWorkspace(layout, 7, 3, train, dropout, sweep);
        expect(Object.keys(ws.io).sort()).toEqual([...IO_BUFFERS].sort());
        const laid = regions(ws).filter(([, r]) => r.floats > 0).sort((a, b) => a[1].offset - b[1].offset);
        for (let i = 0; i < laid.length; i++) {
          const [, r] = laid[i];
          expect(r.offset % 16).toBe(0);
          const end = r.offset + alignedFloats(r.floats);
          if (i + 1 < laid.length) expect(end).toBeLessThanOrEqual(laid[i + 1][1].offset);
          else expect(end).toBe(ws.floats);
        }
        const io = regions({ ...ws, wasm: null, js: null }).filter(([, r]) => r.floats > 0);
        expect(Math.max(...io.map(([, r]) => r.offset + alignedFloats(r.floats)))).toBe(ws.ioFloats);
        // gradient and loss buffers only for training, the mask only when a call applies one
        for (const k of ['target', 'dy', 'dx', 'dh0', 'dc0', 'norms', 'yLast', 'dyLast', 'ceWeight', 'rowLoss'] as const) {
          expect(ws.io[k].floats > 0).toBe(train);
        }
        expect(ws.io.mask.floats > 0).toBe(dropout);
        expect(ws.io.mask.floats).toBe(dropout ? 1 * 7 * 3 * 2 * 5 : 0);
      }
    }
  });

  it('is pure: the same arguments give the same table; the I/O buffers do not depend on the sweep', () => {
    expect(buildWorkspace(layout, 9, 2, true, true, 'wasm')).toEqual(buildWorkspace(layout, 9, 2, true, true, 'wasm'));
    const w = buildWorkspace(layout, 9, 2, true, true, 'wasm'), j = buildWorkspace(layout, 9, 2, true, true, 'js');
    const none = buildWorkspace(layout, 9, 2, true, true, null);
    expect(w.io).toEqual(none.io);
    expect(j.io).toEqual(none.io);
    expect(none.floats).toBe(none.ioFloats);
  });
});

describe('the row-dot packing of W_hh (wasm, one thread)', () => {
  // The same batches with the row-dot packing switched off in the schedule (the per-step
  // products on W_hh as stored): forward's gemm_nt_dot and backward's gemm_nn_dot on the
  // packed row groups must give the same outputs and gradients, bit for bit. (One thread, where
  // the schedule is reachable; the threaded path's parts run the same sweep code.)
  it('training on 40 steps of 1-3 sequences gives the same bits with and without W_hh packed for row dots', async () => {
    type Sched = { dot: boolean };
    type Reachable = { schedule: (...a: unknown[]) => Sched; sched: Sched };
    for (const cell of ['rnn', 'lstm', 'gru'] as const) {
      for (const B of [1, 3]) {
        const runs = [];
        for (const dot of [true, false]) {
          const m = await make('wasm', { cell, inputSize: 3, hiddenSize: 13, outputSize: 2, numLayers: 2 });
          const sw = m.sweep as unknown as Reachable;
          if (!dot) {
            const orig = sw.schedule.bind(sw);
            sw.schedule = (...a: unknown[]) => ({ ...orig(...a), dot: false });
          }
          const r = m.lossAndGrad({ x: seq([40, B, 3]), target: seq([40, B, 2], 2) }, { kind: 'mse', reduction: 'sum' });
          expect(sw.sched.dot).toBe(dot);
          runs.push({ loss: r.loss, out: Array.from(m.forward(seq([40, B, 3])).output.data), grad: Array.from(m.gradView()) });
        }
        expect(runs[0].loss, `${cell} B=${B} loss`).toBe(runs[1].loss);
        expect(runs[0].out).toEqual(runs[1].out);
        const i = runs[0].grad.findIndex((v, j) => !Object.is(v, runs[1].grad[j]));
        expect(i, `${cell} B=${B} grad[${i}] ${runs[0].grad[i]} vs ${runs[1].grad[i]}`).toBe(-1);
      }
    }
  });
});
