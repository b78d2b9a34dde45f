// The same code runs in the page (on the package as a page loads it) and in Node (on the
// Node entry), so the two hosts can be compared number for number. Plain JavaScript: the
// page loads this file as it is. `lib` is the package's namespace.

const camel = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c) => c.toUpperCase()), v]));
const plain = (t) => (t ? { shape: t.shape, data: Array.from(t.data) } : null);

/**
 * A PyTorch fixture case: forward, loss and every gradient on one batch, then the
 * fixture's optimizer steps (losses before each step). Everything returned as plain arrays.
 */
export async function fixtureCase(lib, fx, { threads = 1, wasmBuild } = {}) {
  const c = fx.config;
  const model = await lib.createModel({
    cell: c.cell, nonlinearity: c.nonlinearity, inputSize: c.input_size, hiddenSize: c.hidden_size,
    numLayers: c.num_layers, outputSize: c.output_size, bias: c.bias, threads, ...(wasmBuild ? { wasmBuild } : {}),
  });
  try {
    model.loadStateDict(fx.params);
    const ce = fx.loss.kind === 'cross_entropy';
    const batch = {
      x: fx.x, target: ce ? { shape: fx.target.shape, data: Int32Array.from(fx.target.data) } : fx.target,
      ...(fx.h0 ? { h0: fx.h0 } : {}), ...(fx.c0 ? { c0: fx.c0 } : {}),
    };
    const loss = { kind: fx.loss.kind, reduction: fx.loss.reduction, lastStepOnly: fx.loss.last_step_only };
    const r = model.lossAndGrad(batch, loss);
    const grads = Object.fromEntries(Object.entries(model.gradDict()).map(([k, t]) => [k, plain(t)]));
    const result = {
      info: model.info(), loss: r.loss, output: plain(r.output), hN: plain(r.hN), cN: plain(r.cN), dx: plain(r.dx),
      dh0: plain(r.dh0), dc0: plain(r.dc0), grads, trainLosses: [], finalParams: null,
    };
    const tr = fx.train;
    if (tr) {
      const opt = lib.createOptimizer(tr.optimizer, model, camel(tr.options));
      for (let s = 0; s < tr.steps; s++) {
        opt.zeroGrad();
        result.trainLosses.push(model.lossAndGrad(batch, loss).loss);
        if (tr.clip_norm != null) lib.clipGradNorm(model, tr.clip_norm);
        opt.step();
      }
      result.finalParams = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, plain(t)]));
    }
    return result;
  } finally {
    model.dispose();
  }
}

/**
 * Training from a seed: a character model on a fixed text, Adam, `steps` truncated-BPTT
 * steps of 8 sequences. Returns the loss of every step, the model's info and a sample.
 */
export async function seededTraining(lib, { threads = 1, wasmBuild, steps = 6, seed = 7 } = {}) {
  const text = 'the quick brown fox jumps over the lazy dog. '.repeat(20);
  const vocab = lib.CharVocab.fromText(text);
  const stream = new lib.CharStream(vocab.encode(text), vocab.size, 16, 8); // T 16, B 8
  const model = await lib.createModel({
    cell: 'lstm', inputSize: vocab.size, hiddenSize: 32, outputSize: vocab.size, seed, threads, ...(wasmBuild ? { wasmBuild } : {}),
  });
  try {
    const opt = new lib.Adam(model, { lr: 0.01 });
    const losses = [];
    let state;
    for (let s = 0; s < steps; s++) {
      const b = stream.next();
      const r = lib.trainStep(model, opt, [{ x: b.x, target: b.target, ...(state && !b.reset ? { h0: state.h, c0: state.c } : {}) }],
        { loss: { kind: 'cross_entropy', reduction: 'mean' }, clipGradNorm: 5 });
      state = r.states[0];
      losses.push(r.loss);
    }
    return { losses, info: model.info() };
  } finally {
    model.dispose();
  }
}
