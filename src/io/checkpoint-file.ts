// Checkpoints on disk (Node only; 'bptt-wasm/node' and the Node root export these). The
// format, and everything that works on bytes, is in io/checkpoint.ts.
//
// Files are written atomically: a temporary file in the same directory, fsync, rename.
// A save killed mid-write leaves its temp file; the next save of the same target removes
// it. Saving through a symlink writes the link's target (the link stays a link).

import {
  closeSync, fsyncSync, lstatSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import {
  LOAD_KEYS, checkpointBytes, loadCheckpointBytes, rethrow,
  type LoadCheckpointOptions, type LoadedCheckpoint, type SaveCheckpointOptions,
} from './checkpoint.js';
import { fail, normalizeOptions, show } from '../errors.js';
import type { Model } from '../model.js';

/** The file a path names after following symlinks (a dangling link names its target-to-be). */
function followLinks(path: string): string {
  let p = path;
  for (let hops = 0; hops < 40; hops++) {
    let isLink: boolean;
    try {
      isLink = lstatSync(p).isSymbolicLink();
    } catch {
      return p; // does not exist yet: it is the file to create
    }
    if (!isLink) return p;
    const to = readlinkSync(p);
    p = isAbsolute(to) ? to : join(dirname(p), to);
  }
  fail(`saveCheckpoint: '${path}': too many levels of symbolic links`, 'saveCheckpoint');
}

const tempName = (base: string, pid: number, tag: string): string => `.${base}.${pid}.${tag}.tmp`;

/** Remove temp files a killed save of this target left behind (not those of a live process's save in progress). */
function removeStaleTemps(dir: string, base: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // the write below reports the directory's problem
  }
  const prefix = `.${base}.`;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[a-z0-9]+\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && processAlive(pid)) continue;
    rmSync(join(dir, name), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Write a checkpoint atomically (temp file in the same directory + fsync + rename). The
 * file is complete when this returns, awaited or not: the work is synchronous (a
 * checkpoint is a few MB at most), the Promise is for symmetry with loadCheckpoint.
 * Through a symlink, the link's target is replaced and the link kept.
 */
export async function saveCheckpoint(model: Model, path: string, opts: SaveCheckpointOptions = {}): Promise<void> {
  if (typeof path !== 'string' || path === '') fail(`saveCheckpoint: path must be a non-empty string, got ${show(path)}`, 'saveCheckpoint');
  const bytes = checkpointBytes(model, opts);
  const target = followLinks(path);
  const dir = dirname(target), base = basename(target);
  removeStaleTemps(dir, base);
  const tmp = join(dir, tempName(base, process.pid, Math.random().toString(36).slice(2)));
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    writeFileSync(fd, bytes); // writes the whole buffer (writeSync may stop short)
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw rethrow('saveCheckpoint', `saveCheckpoint: cannot write '${path}'`, e);
  }
  try {
    // the rename is durable once the directory entry is on disk
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch {
    // some file systems refuse fsync on a directory; the file itself is complete
  }
}

/**
 * A model built from a checkpoint's config metadata, with its weights loaded. For the
 * optimizer and scheduler state saved beside them, use loadTrainingCheckpoint.
 */
export async function loadCheckpoint(path: string, opts: LoadCheckpointOptions = {}): Promise<Model> {
  return (await loadTrainingCheckpoint(path, opts)).model;
}

/** Everything a checkpoint holds: the model, and the optimizer (rebuilt) and scheduler state when saved. */
export async function loadTrainingCheckpoint(path: string, opts: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  opts = normalizeOptions<LoadCheckpointOptions>('loadCheckpoint', 'options', opts, LOAD_KEYS);
  if (typeof path !== 'string' || path === '') fail(`loadCheckpoint: path must be a non-empty string, got ${show(path)}`, 'loadCheckpoint');
  const what = `checkpoint '${path}'`;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw rethrow('loadCheckpoint', `loadCheckpoint: cannot read ${what}`, e);
  }
  return loadCheckpointBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), opts, what);
}
