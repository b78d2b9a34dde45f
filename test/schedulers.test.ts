// Learning-rate schedules against values worked out by hand from torch.optim.lr_scheduler's
// definitions (construction = epoch 0, each step() one epoch).

import { describe, expect, it } from 'vitest';
import { CosineAnnealingLR, ExponentialLR, ReduceLROnPlateau, StepLR } from '../src/train/schedulers.js';

const opt = (lr: number) => ({ lr });
function run(s: { step(): void }, o: { lr: number }, epochs: number): number[] {
  const lrs = [o.lr];
  for (let e = 0; e < epochs; e++) {
    s.step();
    lrs.push(o.lr);
  }
  return lrs;
}

describe('schedulers', () => {
  it('StepLR(stepSize 3, gamma 0.5) from lr 0.1', () => {
    const o = opt(0.1);
    expect(run(new StepLR(o, { stepSize: 3, gamma: 0.5 }), o, 9)).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125]);
  });

  it('ExponentialLR(gamma 0.9) from lr 1: 0.9^epoch', () => {
    const o = opt(1);
    const lrs = run(new ExponentialLR(o, { gamma: 0.9 }), o, 5);
    lrs.forEach((lr, e) => expect(lr).toBeCloseTo(0.9 ** e, 15));
  });

  it('CosineAnnealingLR(tMax 10) from lr 0.1: half-cosine down to etaMin, then back up (no restart)', () => {
    const o = opt(0.1);
    const lrs = run(new CosineAnnealingLR(o, { tMax: 10 }), o, 20);
    // torch: epoch 1 -> 0.0975528258147577, 5 -> 0.05, 10 -> 0, 11 -> 0.1*(1-cos(pi/10))/2, 20 -> 0.1
    expect(lrs[1]).toBeCloseTo(0.0975528258147577, 15);
    expect(lrs[5]).toBeCloseTo(0.05, 15);
    expect(lrs[10]).toBeCloseTo(0, 15);
    expect(lrs[11]).toBeCloseTo(0.0024471741852423, 15);
    expect(lrs[20]).toBeCloseTo(0.1, 14);
    const o2 = opt(0.1);
    const withMin = run(new CosineAnnealingLR(o2, { tMax: 10, etaMin: 0.001 }), o2, 25);
    withMin.forEach((lr, e) => expect(lr).toBeCloseTo(0.001 + (0.1 - 0.001) * (1 + Math.cos((Math.PI * e) / 10)) / 2, 14));
  });

  it('ReduceLROnPlateau(factor 0.5, patience 2): halves after 3 epochs without a 1e-4 relative improvement', () => {
    const o = opt(1);
    const s = new ReduceLROnPlateau(o, { factor: 0.5, patience: 2 });
    const lrs: number[] = [];
    for (const m of [10, 9, 9, 9, 9, 8, 8.9999, 8, 8, 8]) {
      s.step(m);
      lrs.push(o.lr);
    }
    // 9 after 9 is not better; the 3rd bad epoch (epoch 5) reduces; 8.9999 is worse than 8
    expect(lrs).toEqual([1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]);
  });

  it('ReduceLROnPlateau with cooldown, minLr and mode max', () => {
    const o = opt(1);
    const s = new ReduceLROnPlateau(o, { factor: 0.1, patience: 0, cooldown: 2, minLr: 0.05 });
    const lrs: number[] = [];
    for (const m of [5, 5, 5, 5, 5, 5, 5, 5]) {
      s.step(m);
      lrs.push(o.lr);
    }
    // epoch 2 reduces to 0.1, two cooldown epochs follow; epoch 5 reduces to max(0.01, minLr);
    // epoch 8 would reduce again, but minLr holds it at 0.05
    expect(lrs).toEqual([1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05]);
    const o2 = opt(1);
    const s2 = new ReduceLROnPlateau(o2, { mode: 'max', patience: 0, thresholdMode: 'abs', threshold: 0.5 });
    s2.step(1);
    s2.step(1.4); // not better by 0.5 absolute
    expect(o2.lr).toBeCloseTo(0.1, 15);
  });

  it('state dicts round-trip (through JSON) and validate', () => {
    const o = opt(0.1);
    const s = new StepLR(o, { stepSize: 2 });
    s.step(); s.step(); s.step();
    const o2 = opt(o.lr);
    const s2 = new StepLR(o2, { stepSize: 2 });
    s2.loadStateDict(JSON.parse(JSON.stringify(s.stateDict())));
    s.step(); s2.step();
    expect(o2.lr).toBe(o.lr);
    const p = new ReduceLROnPlateau(opt(1));
    const q = new ReduceLROnPlateau(opt(1));
    q.loadStateDict(JSON.parse(JSON.stringify(p.stateDict())));
    expect(q.best).toBe(Infinity);
    expect(() => q.loadStateDict(s.stateDict())).toThrow(/state is for StepLR/);
    expect(() => new StepLR(o, { stepSize: 0 })).toThrow(/stepSize/);
    expect(() => new ReduceLROnPlateau(o, { factor: 1 })).toThrow(/factor/);
  });
});
