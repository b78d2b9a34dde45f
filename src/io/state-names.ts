// PyTorch state-dict names as users write them.
//
// This library's names are `<module>.<param>` with the modules of the reference Net: `rnn`
// (nn.RNN/LSTM/GRU) and `out` (nn.Linear). A user's module calls them whatever it likes
// (`lstm.weight_ih_l0`, `fc.weight`, nested as `encoder.rnn.weight_ih_l0`), so a state dict is
// read through a prefix per module: the caller's `prefixes`, else our own names (with a bare
// nn.RNN/LSTM/GRU dict's `weight_ih_l0` as `rnn.`), else the one recurrent module and the one
// Linear head the dict holds, and for a model with an embedding (`embed.weight`) the one
// other 2-D tensor, of shape [numEmbeddings, embeddingDim] (`encoder.weight`, `emb.weight`,
// ...). Anything else is ambiguous, and the error lists the candidates.

import { fail, show } from '../errors.js';
import type { Layout } from '../layout.js';

/** Our module name -> the user's prefix for it (`{ rnn: 'lstm', out: 'fc' }`; '' for a bare nn.LSTM dict). */
export type Prefixes = Record<string, string>;

export interface StateDictNameOptions {
  /** the user's module names: `{ rnn: 'lstm', out: 'fc' }` (`embed: 'encoder'` for the embedding), nested as `'encoder.rnn'`; modules left out keep ours */
  prefixes?: Prefixes;
}

/** The parameter names an nn.RNN/LSTM/GRU has, with those it has and we do not (proj_size's weight_hr). */
const RECURRENT_PARAM = /^(weight|bias)_(ih|hh|hr)_l\d+(_reverse)?$/;
const LINEAR_PARAMS = new Set(['weight', 'bias']);

const splitKey = (key: string): [string, string] => {
  const dot = key.lastIndexOf('.');
  return dot < 0 ? ['', key] : [key.slice(0, dot), key.slice(dot + 1)];
};
const joinKey = (prefix: string, param: string): string => (prefix === '' ? param : `${prefix}.${param}`);
const shapeOf = (v: unknown): string => {
  const s = (v as { shape?: unknown } | null)?.shape;
  return Array.isArray(s) ? s.join(',') : '';
};

/** This model's modules in layout order (`rnn`, `out`, ...), each with its params' shapes. */
function modulesOf(layout: Layout): Map<string, Map<string, number[]>> {
  const mods = new Map<string, Map<string, number[]>>();
  for (const t of layout.tensors) {
    const dot = t.name.indexOf('.');
    const mod = t.name.slice(0, dot), param = t.name.slice(dot + 1);
    if (!mods.has(mod)) mods.set(mod, new Map());
    mods.get(mod)!.set(param, t.shape);
  }
  return mods;
}

/** The caller's prefixes, checked: known modules only, strings, no trailing dot. */
function checkPrefixes(where: string, given: unknown, mods: Map<string, unknown>): Map<string, string> {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    fail(`${where}: prefixes must be an object { module: prefix } (e.g. { rnn: 'lstm', out: 'fc' }), got ${show(given)}`);
  }
  const out = new Map<string, string>();
  for (const [mod, p] of Object.entries(given as Record<string, unknown>)) {
    if (!mods.has(mod)) {
      fail(`${where}: prefixes names module '${mod}', but this model's modules are ${[...mods.keys()].join(', ')}` +
        (mod === 'embed' ? ' (it has no embedding: createModel({ embedding }) adds one)' : ''));
    }
    if (typeof p !== 'string') fail(`${where}: prefixes.${mod} must be a string (the user's module name, '' for none), got ${show(p)}`);
    out.set(mod, p.endsWith('.') ? p.slice(0, -1) : p);
  }
  return out;
}

/**
 * The prefix under which a state dict holds each of this model's modules (only the values'
 * shapes are looked at, to tell Linear modules apart).
 */
export function resolvePrefixes(where: string, layout: Layout, sd: Record<string, unknown>, prefixes?: unknown): Map<string, string> {
  const mods = modulesOf(layout);
  const given = prefixes === undefined ? new Map<string, string>() : checkPrefixes(where, prefixes, mods);
  if (prefixes !== undefined) return new Map([...mods.keys()].map((m) => [m, given.get(m) ?? m]));

  const keys = Object.keys(sd);
  // Groups of the dict: prefix -> its params.
  const groups = new Map<string, string[]>();
  for (const k of keys) {
    const [p, param] = splitKey(k);
    if (!groups.has(p)) groups.set(p, []);
    groups.get(p)!.push(param);
  }
  const isRecurrent = (p: string): boolean => groups.get(p)!.some((param) => RECURRENT_PARAM.test(param));

  // Our own names (a bare nn.RNN/LSTM/GRU dict counts as ours): used whenever every key's
  // module is one of ours, so an unknown or extra parameter gets the precise message.
  const own = new Map([...mods.keys()].map((m) => [m, m]));
  if (mods.has('rnn') && !groups.has('rnn') && groups.has('') && isRecurrent('')) own.set('rnn', '');
  const ownPrefixes = new Set(own.values());
  if ([...groups.keys()].every((p) => ownPrefixes.has(p))) return own;

  // Otherwise the dict's own module names: one recurrent module, and one Linear-shaped module
  // (weight [+ bias]) for each of ours, told apart by shape when there are several.
  const found = new Map<string, string>();
  const taken = new Set<string>();
  const listing = (ps: string[]): string => ps.map((p) => `'${p === '' ? '(no prefix)' : p}'`).join(', ');
  const hint = (mod: string): string => `; say which with the option { prefixes: { ${mod}: '<prefix>' } }`;
  const someKeys = keys.length <= 12 ? keys.join(', ') : `${keys.slice(0, 12).join(', ')}, ... (${keys.length} keys)`;
  for (const [mod, params] of mods) {
    if (mod === 'embed') continue; // found last: the one 2-D tensor left beside the recurrent module and the head
    let cands: string[];
    if (mod === 'rnn') {
      cands = [...groups.keys()].filter(isRecurrent);
      if (cands.length === 0) fail(`${where}: the state dict has no recurrent module (no '<name>.weight_ih_l0'); its keys: ${someKeys}`);
    } else {
      cands = [...groups.keys()].filter((p) => !taken.has(p) && !isRecurrent(p) &&
        groups.get(p)!.includes('weight') && groups.get(p)!.every((param) => LINEAR_PARAMS.has(param)));
      if (cands.length > 1) {
        // several Linear-shaped modules: keep the ones whose weight has this module's shape
        const want = params.get('weight')?.join(',');
        const same = cands.filter((p) => shapeOf(sd[joinKey(p, 'weight')]) === want);
        if (same.length === 1) cands = same;
        else if (same.length > 1) {
          // an embedding table can have the head's shape: then the one with exactly this module's params (weight and bias)
          const exact = same.filter((p) => groups.get(p)!.length === params.size && groups.get(p)!.every((q) => params.has(q)));
          if (exact.length === 1) cands = exact;
        }
      }
      if (cands.length === 0) {
        fail(`${where}: the state dict has no module for '${mod}' (a Linear '<name>.weight' [+ '<name>.bias'] beside the recurrent module); ` +
          `its keys: ${someKeys}`);
      }
    }
    if (cands.length > 1) fail(`${where}: the state dict is ambiguous: ${listing(cands)} could each be '${mod}'${hint(mod)}`);
    found.set(mod, cands[0]);
    taken.add(cands[0]);
  }
  const embed = mods.get('embed')?.get('weight');
  if (embed) found.set('embed', embeddingPrefix(where, sd, taken, embed, someKeys));
  return new Map([...mods.keys()].map((m) => [m, found.get(m)!])); // the model's module order
}

/**
 * The prefix of the embedding table: the dict's one 2-D tensor outside the modules already
 * found (`taken`), which must be `<prefix>.weight` of shape [numEmbeddings, embeddingDim].
 */
function embeddingPrefix(where: string, sd: Record<string, unknown>, taken: Set<string>, shape: number[], someKeys: string): string {
  const want = shape.join(',');
  const is2d = (v: unknown): boolean => { const sh = (v as { shape?: unknown } | null)?.shape; return Array.isArray(sh) && sh.length === 2; };
  const cands = Object.keys(sd).filter((k) => !taken.has(splitKey(k)[0]) && is2d(sd[k]));
  const hint = "; say which with the option { prefixes: { embed: '<prefix>' } }";
  if (cands.length === 0) {
    fail(`${where}: the state dict has no embedding table (a 2-D '<name>.weight' [${shape.join(', ')}] beside the recurrent module and the head); ` +
      `its keys: ${someKeys}`);
  }
  if (cands.length > 1) {
    fail(`${where}: the state dict is ambiguous: ${cands.map((k) => `'${k}' [${shapeOf(sd[k]).replaceAll(',', ', ')}]`).join(', ')} ` +
      `could each be the embedding 'embed.weight' [${shape.join(', ')}]${hint}`);
  }
  const [prefix, param] = splitKey(cands[0]);
  if (param !== 'weight' || shapeOf(sd[cands[0]]) !== want) {
    fail(`${where}: the one 2-D tensor beside the recurrent module and the head, '${cands[0]}' [${shapeOf(sd[cands[0]]).replaceAll(',', ', ')}], ` +
      `is not this model's embedding table 'embed.weight' [${shape.join(', ')}] (a '<name>.weight' [numEmbeddings, embeddingDim])${hint}`);
  }
  return prefix;
}

/**
 * A dict key under this model's names, or null for a key no module's prefix claims (the
 * caller reports it). The longest matching prefix wins, so `net` and `net.fc` can both be prefixes.
 */
export function ourName(key: string, prefixes: Map<string, string>): string | null {
  let best: [string, string] | null = null;
  for (const [mod, p] of prefixes) {
    if (p !== '' && !key.startsWith(`${p}.`)) continue;
    const param = p === '' ? key : key.slice(p.length + 1);
    if (param.includes('.')) continue; // a deeper module than this prefix's
    if (!best || p.length > best[0].length) best = [p, `${mod}.${param}`];
  }
  return best ? best[1] : null;
}

/** The user's key for one of our names (the inverse of ourName). */
export function userKey(name: string, prefixes: Map<string, string>): string {
  const dot = name.indexOf('.');
  return joinKey(prefixes.get(name.slice(0, dot)) ?? name.slice(0, dot), name.slice(dot + 1));
}

/** How the prefixes read in a message: "rnn as 'lstm', out as 'fc'" (only those that differ from ours). */
export function describePrefixes(prefixes: Map<string, string>): string {
  const differ = [...prefixes].filter(([m, p]) => m !== p);
  return differ.map(([m, p]) => `${m} as '${p === '' ? '(no prefix)' : p}'`).join(', ');
}
