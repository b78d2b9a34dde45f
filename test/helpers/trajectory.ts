// A fixture's training trajectory (`train` in the JSON): the optimizer steps PyTorch took,
// replayed here, checking the loss and the gradient norm before each step and the final
// parameters. Shared by the fixture suites that carry one (torch-seq, embedding).

import { clipGradNorm, createOptimizer, type LossSpec, type Model, type OptimizerKind } from '../../src/index.js';
import { expectClose, expectScalarClose } from './compare.js';
import type { Fx } from './models.js';

/** torch.optim keyword arguments (snake_case) -> our camelCase options. */
export const camel = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));

export function expectTrajectory(model: Model, tr: Fx, batch: Parameters<Model['lossAndGrad']>[0], loss: LossSpec, tol: number): void {
  const opt = createOptimizer(tr.optimizer as OptimizerKind, model, camel(tr.options) as { lr: number });
  for (let s = 0; s < tr.steps; s++) {
    opt.zeroGrad();
    const value = model.lossAndGrad(batch, loss).loss;
    expectScalarClose(`loss before step ${s}`, value, tr.losses_before_each_step[s], tol);
    const norm = clipGradNorm(model, tr.clip_norm);
    expectScalarClose(`grad norm before clip, step ${s}`, norm, tr.grad_norm_before_clip_each_step[s], tol);
    opt.step();
  }
  const sd = model.stateDict();
  for (const [name, t] of Object.entries(tr.final_params as Record<string, Fx>)) expectClose(`final ${name}`, sd[name], t, tol);
}
