// The embedding table under the user's module name: a PyTorch model calls its nn.Embedding
// `encoder`, `emb`, `embedding`, `embeddings`, ... Detected when the dict has exactly one 2-D
// tensor beside the recurrent module and the Linear head, of shape [numEmbeddings,
// embeddingDim]; named with `prefixes: { embed: '...' }`; written back under that name.
// Anything else (two tables, the wrong shape, none) is an error naming the candidates that
// leaves the model unchanged. The dicts are an embedding fixture's weights renamed, so the
// loaded model must reproduce PyTorch's output.

import { describe, expect, it } from 'vitest';
import { BpttError, readSafetensors, writeSafetensors, type Model, type Tensor } from '../src/index.js';
import { embeddingFixtures } from './helpers/embedding.js';
import { PATHS, createModelOn, type Path } from './helpers/variants.js';
import { expectClose } from './helpers/compare.js';
import type { Fx } from './helpers/models.js';

const FWD = 2e-5; // the embedding fixtures' forward tolerance (float32 against PyTorch's float64)
const fx: Fx = embeddingFixtures.find(([n]) => n === 'emb_gru_bi_2layer_mse_mean')![1];
const c = fx.config;

/** A model of the fixture's config with other weights (seed 5). */
const blank = (path: Path): Promise<Model> => createModelOn(path, {
  cell: c.cell, hiddenSize: c.hidden_size, numLayers: c.num_layers, outputSize: c.output_size, bidirectional: c.bidirectional,
  embedding: { numEmbeddings: c.embedding.num_embeddings, embeddingDim: c.embedding.embedding_dim }, seed: 5,
});

/** The fixture's params under the module names { embed, rnn, out }. */
function renamed(names: { embed: string; rnn: string; out: string }, params: Record<string, Tensor> = fx.params): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => {
    const dot = k.indexOf('.');
    const p = names[k.slice(0, dot) as 'embed' | 'rnn' | 'out'];
    return [p === '' ? k.slice(dot + 1) : `${p}.${k.slice(dot + 1)}`, v];
  }));
}

function expectForward(m: Model): void {
  const x = { shape: fx.x.shape, data: Int32Array.from(fx.x.data) };
  const r = m.forward(x, { ...(fx.h0 ? { h0: fx.h0 } : {}), ...(fx.lengths ? { lengths: fx.lengths as number[] } : {}) });
  expectClose('output', r.output, fx.output, FWD);
}

const snapshot = (m: Model) => Array.from(m.paramView());

describe.each(PATHS)('the embedding table under the user\'s name (%s)', (path) => {
  it('is detected as the one 2-D tensor beside the recurrent module and the head, nested names too', async () => {
    for (const embed of ['encoder', 'emb', 'embedding', 'embeddings', 'net.tokens', 'embed']) {
      for (const [rnn, out] of [['gru', 'fc'], ['net.body', 'net.head']]) {
        const m = await blank(path);
        m.loadStateDict(renamed({ embed, rnn, out }));
        expectForward(m);
      }
    }
  });

  it("is named with prefixes: { embed: 'tok' } and written back under it (stateDict, gradDict, safetensors)", async () => {
    const names = { embed: 'tok', rnn: 'gru', out: 'fc' };
    const m = await blank(path);
    m.loadStateDict(renamed(names), { prefixes: names });
    expectForward(m);
    expect(Object.keys(m.stateDict({ prefixes: names }))).toEqual(Object.keys(renamed(names)));
    expect(Object.keys(m.gradDict({ prefixes: names }))[0]).toBe('tok.weight');
    // modules left out keep ours
    const half = await blank(path);
    half.loadStateDict(renamed({ embed: 'embed', rnn: 'gru', out: 'fc' }), { prefixes: { rnn: 'gru', out: 'fc' } });
    expectForward(half);
    // a file PyTorch wrote under its own names loads as it is
    const file = writeSafetensors(renamed({ embed: 'embedding', rnn: 'lstm', out: 'decoder' }), { format: 'pt' });
    const f = await blank(path);
    f.loadStateDict(readSafetensors(file).tensors);
    expectForward(f);
  });

  it('a table with the head\'s shape is told apart from the head by its missing bias', async () => {
    // embed.weight [4, 6] and out.weight [4, 6]: only the head has a bias
    const m = await createModelOn(path, { cell: 'lstm', hiddenSize: 6, outputSize: 4, embedding: { numEmbeddings: 4, embeddingDim: 6 }, seed: 1 });
    const src = await createModelOn(path, { cell: 'lstm', hiddenSize: 6, outputSize: 4, embedding: { numEmbeddings: 4, embeddingDim: 6 }, seed: 2 });
    const sd = src.stateDict();
    for (const [embed, out] of [['emb', 'fc'], ['fc', 'emb']]) {
      m.loadStateDict(renamed({ embed, rnn: 'lstm', out }, sd));
      const got = m.stateDict();
      expect(got['embed.weight']).toEqual(sd['embed.weight']);
      expect(got['out.weight']).toEqual(sd['out.weight']);
    }
  });

  it('two candidate tables, one of the wrong shape, or none: an error naming them; the model is unchanged', async () => {
    const m = await blank(path);
    const before = snapshot(m);
    const sd = renamed({ embed: 'emb', rnn: 'gru', out: 'fc' });
    const [N, E] = [c.embedding.num_embeddings, c.embedding.embedding_dim];
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...sd, 'pos.weight': { shape: [3, E], data: new Float32Array(3 * E) } },
        new RegExp(`ambiguous: 'emb\\.weight' \\[${N}, ${E}\\], 'pos\\.weight' \\[3, ${E}\\] could each be the embedding 'embed\\.weight' \\[${N}, ${E}\\].*prefixes: \\{ embed:`)],
      [{ ...sd, 'emb.weight': { shape: [N + 1, E], data: new Float32Array((N + 1) * E) } },
        new RegExp(`'emb\\.weight' \\[${N + 1}, ${E}\\], is not this model's embedding table 'embed\\.weight' \\[${N}, ${E}\\]`)],
      [Object.fromEntries(Object.entries(sd).filter(([k]) => k !== 'emb.weight')), /has no embedding table/],
      [Object.fromEntries(Object.entries(sd).map(([k, v]) => [k === 'emb.weight' ? 'emb.table' : k, v])), /'emb\.table' .*is not this model's embedding table/],
    ];
    for (const [dict, msg] of cases) {
      let err: unknown;
      try { m.loadStateDict(dict as Record<string, Tensor>); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(BpttError);
      expect((err as Error).message).toMatch(msg);
      expect(snapshot(m)).toEqual(before);
    }
    // naming it settles the ambiguity
    const both = { ...sd, 'pos.weight': { shape: [3, E], data: new Float32Array(3 * E) } };
    expect(() => m.loadStateDict(both, { prefixes: { embed: 'emb', rnn: 'gru', out: 'fc' } })).toThrow(/unknown key 'pos\.weight'/);
    m.loadStateDict(sd, { prefixes: { embed: 'emb', rnn: 'gru', out: 'fc' } });
    expectForward(m);
  });

  it('prefixes.embed on a model without an embedding says it has none', async () => {
    const m = await createModelOn(path, { cell: 'gru', inputSize: 3, hiddenSize: 4, outputSize: 2 });
    expect(() => m.stateDict({ prefixes: { embed: 'emb' } })).toThrow(/modules are rnn, out \(it has no embedding/);
  });
});
