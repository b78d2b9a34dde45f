// Gradient-flow diagnostics (one forward/backward, ||dL/dh_t|| per layer and step, and a
// summary), the experiment built on them, and the SVG charts that draw them.

import { describe, expect, it } from 'vitest';
import { gradientFlow, summarizeGradNorms } from '../src/diagnostics.js';
import { gradflowExperiment, gradflowSvg, gradflowTable } from '../src/cli/experiments.js';
import { gradFlowChart, lineChart, lossCurveChart, niceTicks } from '../src/svg.js';
import { createModelOn, PATHS } from './helpers/variants.js';


describe('summarizeGradNorms', () => {
  it('finds the per-step factor and where a geometric decay fell below 1e-6 of the final norm', () => {
    const T = 50;
    const norms = Array.from({ length: T }, (_, t) => 2 * 0.5 ** (T - 1 - t));
    const s = summarizeGradNorms(norms);
    expect(s.stepFactor).toBeCloseTo(0.5, 12);
    expect(s.finalNorm).toBe(2);
    // 0.5^20 = 9.5e-7 < 1e-6 <= 0.5^19: twenty steps back from t = 49
    expect(s.vanishedAt).toBe(29);
    expect(s.vanishedAfter).toBe(20);
    expect(s.explodedAt).toBeNull();
    expect(s.underflowAt).toBeNull();
  });

  it('reports growth, and a flat series as neither', () => {
    const grow = summarizeGradNorms(Array.from({ length: 30 }, (_, t) => 2 ** (29 - t)));
    expect(grow.stepFactor).toBeCloseTo(2, 12);
    expect(grow.explodedAt).toBe(9); // 2^20 > 1e6 >= 2^19
    expect(grow.vanishedAt).toBeNull();
    const flat = summarizeGradNorms([1, 1, 1, 1]);
    expect(flat).toMatchObject({ stepFactor: 1, vanishedAt: null, explodedAt: null });
  });

  it('measures the factor over the span above float32 underflow', () => {
    const s = summarizeGradNorms([0, 0, 1e-4, 1e-2, 1]);
    expect(s.underflowAt).toBe(0);
    expect(s.stepFactor).toBeCloseTo(0.01, 10);
    expect(s.vanishedAt).toBe(1);
  });
});

describe.each(PATHS)('gradientFlow on %s', (path) => {
  it('shows a tanh RNN at PyTorch init vanishing and an IRNN keeping its gradient over T = 60', async () => {
    const rnn = await createModelOn(path, { cell: 'rnn', inputSize: 2, hiddenSize: 32, outputSize: 1, seed: 1 });
    const irnn = await createModelOn(path, { cell: 'rnn', nonlinearity: 'relu', init: 'irnn', inputSize: 2, hiddenSize: 32, outputSize: 1, seed: 1 });
    const a = gradientFlow(rnn, { T: 60 });
    const b = gradientFlow(irnn, { T: 60 });
    expect(a.T).toBe(60);
    expect(a.hiddenGradNorms).toHaveLength(1);
    expect(a.hiddenGradNorms[0]).toHaveLength(60);
    expect(a.summary[0].stepFactor).toBeLessThan(0.8);
    expect(a.summary[0].vanishedAt).not.toBeNull();
    expect(b.summary[0].stepFactor).toBeGreaterThan(0.95);
    expect(b.summary[0].vanishedAt).toBeNull();
  });

  it('returns the norms lossAndGrad reports for the same batch, per layer', async () => {
    const m = await createModelOn(path, { cell: 'gru', inputSize: 3, hiddenSize: 6, numLayers: 2, outputSize: 4, seed: 2 });
    const T = 7, B = 2;
    const batch = {
      x: { shape: [T, B, 3], data: Float32Array.from({ length: T * B * 3 }, (_, i) => Math.sin(i)) },
      target: { shape: [T, B], data: Int32Array.from({ length: T * B }, (_, i) => i % 4) },
    };
    const loss = { kind: 'cross_entropy', reduction: 'mean' } as const;
    const g = gradientFlow(m, { batch, loss });
    m.zeroGrad();
    const r = m.lossAndGrad(batch, loss);
    expect(g.hiddenGradNorms).toEqual(r.hiddenGradNorms);
    expect(g.summary.map((s) => s.layer)).toEqual([0, 1]);
    expect(g.loss).toBe(r.loss);
  });

  it('leaves the parameters and the accumulated gradients as they were', async () => {
    const m = await createModelOn(path, { cell: 'lstm', inputSize: 2, hiddenSize: 5, outputSize: 1, seed: 3 });
    const g = m.gradView();
    for (let i = 0; i < g.length; i++) g[i] = i * 1e-3;
    const params = m.stateDict(), grads = m.gradDict();
    gradientFlow(m, { T: 12 });
    expect(m.stateDict()).toEqual(params);
    expect(m.gradDict()).toEqual(grads);
  });

  it('says what is missing or wrong', async () => {
    const m = await createModelOn(path, { cell: 'rnn', inputSize: 2, hiddenSize: 4, outputSize: 1 });
    const x = { shape: [3, 1, 2], data: new Float32Array(6) };
    expect(() => gradientFlow(m, { batch: { x, target: { shape: [1, 1], data: [0] } } })).toThrow(/give `loss` together with `batch`/);
    expect(() => gradientFlow(m, { T: 0 })).toThrow(/T must be an integer >= 1/);
    expect(() => gradientFlow(m, { threshold: -1 })).toThrow(/threshold/);
  });
});

describe('the gradflow experiment', () => {
  it('gives the same picture on both backends: the gated cells and the tanh RNN decay, the IRNN does not', async () => {
    const opts = { T: 40, hiddenSize: 16, models: ['rnn-tanh', 'irnn', 'lstm', 'lstm-fb1', 'gru'] };
    const [w, j] = await Promise.all([gradflowExperiment({ ...opts, backend: 'wasm' }), gradflowExperiment({ ...opts, backend: 'js' })]);
    for (let i = 0; i < w.rows.length; i++) {
      const a = w.rows[i].norms, b = j.rows[i].norms;
      for (let t = 0; t < a.length; t++) expect(Math.abs(a[t] - b[t])).toBeLessThanOrEqual(1e-4 * b[t] + 1e-30);
    }
    const f = Object.fromEntries(w.rows.map((r) => [r.key, r.summary.stepFactor]));
    expect(f.irnn).toBeGreaterThan(0.95);
    expect(f['rnn-tanh']).toBeLessThan(0.8);
    expect(f['lstm-fb1']).toBeGreaterThan(f.lstm); // a forget bias of 1 keeps more of the gradient
    const table = gradflowTable(w);
    expect(table.split('\n')).toHaveLength(2 + 5);
    expect(table).toContain('| IRNN (ReLU, W_hh = I) |');
    expect(table).toMatch(/never/);
    const svg = gradflowSvg(w);
    expect(svg.match(/<path /g)).toHaveLength(5);
    expect(svg).toContain('T = 40, hidden size 16');
  });
});

describe('SVG charts', () => {
  it('draws one line per series with a legend, on a log axis labelled in decades', () => {
    const svg = gradFlowChart([
      { name: 'vanishing', norms: Array.from({ length: 30 }, (_, t) => 0.5 ** (29 - t)) },
      { name: 'flat <&>', norms: Array.from({ length: 30 }, () => 0.1) },
    ]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('flat &lt;&amp;&gt;'); // escaped
    // 0.5^29 = 1.9e-9: ten decades, labelled every second one, down to 10^-10
    expect(svg).toContain('>10<tspan dy="-6" font-size="9">\u221210</tspan>');
    expect(svg).toContain('>10<tspan dy="-6" font-size="9">0</tspan>');
    expect(svg).toContain('\u2016dL/dh_t\u2016  (log scale)');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('leaves gaps for values a log axis cannot show, and survives empty or constant data', () => {
    const svg = lineChart([{ name: 'a', y: [1, 0, 0.1, NaN, 0.01] }], { yScale: 'log' });
    const d = /<path d="([^"]+)"/.exec(svg)![1];
    expect(d.match(/M/g)).toHaveLength(3); // three separate pieces
    for (const s of [lineChart([]), lineChart([{ name: 'c', y: [2, 2, 2] }]), lineChart([{ name: 'z', y: [0, 0] }], { yScale: 'log' })]) {
      expect(s).not.toMatch(/NaN|undefined|Infinity/);
    }
  });

  it('draws a loss curve with a dashed validation line and a baseline', () => {
    const svg = lossCurveChart({ name: 'MSE', loss: [1, 0.5, 0.3, 0.2], valLoss: [1.1, 0.6, 0.4, 0.35] },
      { hlines: [{ y: 0.167, label: 'baseline' }] });
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('MSE (validation)');
    expect(svg).toContain('stroke-dasharray="6 4"');
    expect(svg).toContain('>baseline<');
  });

  it('picks ticks 1, 2 or 5 x 10^k apart', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
    expect(niceTicks(0, 100, 4)).toEqual([0, 50, 100]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });
});
