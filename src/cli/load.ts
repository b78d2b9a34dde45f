// Reading the checkpoints that `demo` and `train` write, with the reason when a file is not one.

import { existsSync } from 'node:fs';
import type { BackendKind } from '../backend/factory.js';
import { loadTrainingCheckpoint } from '../io/checkpoint-file.js';
import type { LoadedCheckpoint } from '../io/checkpoint.js';
import { CharVocab } from '../data/text.js';
import type { Model } from '../model.js';
import { libraryErrorMessage, UserError } from './common.js';

export async function loadCliCheckpoint(path: string, backend?: BackendKind): Promise<LoadedCheckpoint> {
  if (!existsSync(path)) throw new UserError(`checkpoint not found: ${path}`);
  try {
    return await loadTrainingCheckpoint(path, backend ? { backend } : {});
  } catch (e) {
    const msg = libraryErrorMessage(e);
    if (msg === undefined) throw e;
    throw new UserError(`cannot load ${path}: ${msg}`);
  }
}

export async function loadCharCheckpoint(path: string, backend?: BackendKind): Promise<{ model: Model; vocab: CharVocab }> {
  return charModel(await loadCliCheckpoint(path, backend), path);
}

/** The character model in a loaded checkpoint, with its vocabulary. */
export function charModel(loaded: LoadedCheckpoint, path: string): { model: Model; vocab: CharVocab } {
  const vocabJson = loaded.metadata['bptt_wasm.vocab'];
  if (!vocabJson) {
    throw new UserError(`${path} is not a character model (its metadata has no bptt_wasm.vocab); ` +
      'train one with `bptt-wasm demo` or `bptt-wasm train FILE.txt`');
  }
  return { model: loaded.model, vocab: CharVocab.fromJSON(vocabJson) };
}
