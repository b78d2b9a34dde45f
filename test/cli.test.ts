// The `bptt-wasm` command, end to end: every command runs as a spawned process of the
// built CLI (dist/src/cli/index.js, as `npm test` builds it) with tiny settings, and the tests
// check what it prints, the exit code and the files it writes. Commands that compute
// run on both backends.

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readSafetensors } from '../src/io/safetensors.js';

// Each test spawns processes; on a loaded machine (2 cores shared) they take far longer than vitest's 5 s default.
vi.setConfig({ testTimeout: 120_000 });

const CLI = resolve(import.meta.dirname, '..', 'dist', 'src', 'cli', 'index.js');
const BACKENDS = ['wasm', 'js'] as const;
let dir = '';

interface Run { code: number; stdout: string; stderr: string }

function cli(args: string[], opts: { timeout?: number } = {}): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [CLI, ...args], { cwd: dir, timeout: opts.timeout ?? 60_000, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        res({ code, stdout, stderr });
      });
  });
}

const p = (name: string): string => join(dir, name);

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before these tests`);
  dir = mkdtempSync(join(tmpdir(), 'bptt-wasm-cli-'));
  // a small text and a CSV of noisy sine waves (one sequence per line, with a header)
  const text = 'the whale and the sea. '.repeat(60);
  writeFileSync(p('tiny.txt'), text);
  const rows = ['v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11'];
  for (let n = 0; n < 40; n++) rows.push(Array.from({ length: 12 }, (_, t) => (10 + 3 * Math.sin(0.5 * t + n)).toFixed(4)).join(','));
  writeFileSync(p('waves.csv'), rows.join('\n') + '\n');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bptt-wasm --help and usage errors', () => {
  it('lists every command, and each has its own --help', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['demo', 'train', 'sample', 'gradflow', 'experiment', 'bench']) expect(r.stdout).toContain(c);
    expect(r.stdout).toMatch(/Exit codes: 0 success, 1 .* 2 a usage error/);
    for (const sub of [['demo'], ['train'], ['sample'], ['gradflow'], ['experiment'], ['experiment', 'adding'], ['bench']]) {
      const h = await cli([...sub, '--help']);
      expect(h.code, sub.join(' ')).toBe(0);
      expect(h.stdout).toContain(`Usage: bptt-wasm ${sub.join(' ')}`);
    }
  });

  it('prints the version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'package.json'), 'utf8')).version);
  });

  it('exits 2 with a clear message on an unknown command, an unknown option, a bad number or a missing option', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['fly'], /unknown command 'fly'/],
      [['gradflow', '--colour', 'red'], /unknown option '--colour'/],
      [['gradflow', '--T', 'ten'], /option '--T <n>' argument 'ten' is invalid\. Expected an integer >= 2/],
      [['gradflow', '--models', 'rnn,transformer'], /Unknown model 'rnn'/],
      [['demo', '--seconds', '-1'], /option '--seconds <s>' argument '-1' is invalid\. Expected a number > 0/],
      [['demo', '--backend', 'gpu'], /Allowed choices are wasm, js/],
      [['experiment', 'adding', '--T', '50,x'], /'x' is not an integer >= 2/],
      [['sample'], /required option '--checkpoint <file>' not specified/],
      [['train'], /missing required argument 'file'/],
      [['experiment', 'juggle'], /unknown command 'juggle'/],
      [['demo', '--backend', 'js', '--threads', '2'], /--threads applies to --backend wasm only/],
      [['train', 'series.csv', '--steps', '5'], /--steps applies to text training only/],
      [['train', 'notes.txt', '--epochs', '3', '--init', 'irnn'], /--epochs, --init apply to CSV training only/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
  });
});

describe.each(BACKENDS)('bptt-wasm demo, train and sample on %s', (backend) => {
  it('demo: trains on Moby-Dick with samples, writes a checkpoint and a loss curve, and compares the backends', async () => {
    const ckpt = p(`demo-${backend}.safetensors`), svg = p(`demo-loss-${backend}.svg`);
    const r = await cli(['demo', '--backend', backend, '--seconds', '0.5', '--steps', '40', '--chapters', '3', '--hidden', '16',
      '--seq-len', '16', '--batch', '4', '--sample-every', '20', '--sample-length', '30', '--compare-seconds', '0.2',
      '--out', ckpt, '--loss-svg', svg]);
    expect(r.code, r.stderr).toBe(0);
    // the demo's default inputs: an embedding of min(vocabulary, 32) per character
    expect(r.stdout).toMatch(/demo: a character LSTM \(hidden 16, \d+ characters, embedding 32\)/);
    expect(r.stdout).toContain(`on Moby-Dick`);
    expect(r.stdout).toMatch(/--- sample at step \d+ \(temperature 0\.8\) ---/);
    expect(r.stdout).toMatch(/trained \d+ steps \([\d,]+ characters\) in [\d.]+ s; loss [\d.]+ -> [\d.]+ nats\/char/);
    expect(r.stdout).toMatch(/speed: wasm [\d,]+ chars\/s, js [\d,]+ chars\/s: wasm\/js = [\d.]+x/);
    // not a TTY: progress comes as log lines on stderr with loss, chars/s and ETA
    expect(r.stderr).toMatch(/demo step \d+ \| \d+% \| loss [\d.]+ \| [\d,]+ chars\/s \| ETA /);
    const st = readSafetensors(new Uint8Array(readFileSync(ckpt)));
    expect(Object.keys(st.tensors)).toContain('rnn.weight_hh_l0');
    expect(st.tensors['rnn.weight_hh_l0'].shape).toEqual([64, 16]);
    expect(st.tensors['embed.weight'].shape).toEqual([st.tensors['out.bias'].shape[0], 32]);
    expect(st.tensors['rnn.weight_ih_l0'].shape).toEqual([64, 32]);
    expect(st.metadata['bptt_wasm.task']).toBe('char');
    expect(JSON.parse(st.metadata['bptt_wasm.vocab']).length).toBe(st.tensors['out.bias'].shape[0]);
    const chart = readFileSync(svg, 'utf8');
    expect(chart).toMatch(/^<svg /);
    expect(chart).toContain('training loss');

    // sample from it: deterministic for a seed, starts with the prime, has the length asked for
    const args = ['sample', '--checkpoint', ckpt, '--temperature', '0.5', '--length', '40', '--prime', 'The ', '--backend', backend];
    const s1 = await cli(args), s2 = await cli(args);
    expect(s1.code, s1.stderr).toBe(0);
    expect(s1.stdout.startsWith('The ')).toBe(true);
    expect([...s1.stdout.replace(/\n$/, '')].length).toBe(4 + 40);
    expect(s2.stdout).toBe(s1.stdout);
    const s3 = await cli([...args, '--seed', '7']);
    expect(s3.code).toBe(0);
  });

  it('train on a text file: a checkpoint that sample can read', async () => {
    const ckpt = p(`new-dir-${backend}/tiny.safetensors`);
    const r = await cli(['train', p('tiny.txt'), '--backend', backend, '--steps', '30', '--hidden', '12', '--seq-len', '10',
      '--batch', '4', '--sample-every', '0', '--cell', 'gru', '--out', ckpt, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('train: a character GRU (hidden 12, 11 characters, embedding 11) on tiny.txt');
    expect(r.stdout).toMatch(/trained 30 steps \(1,200 characters\)/);
    expect(r.stdout).toContain('--- sample at step 30');
    expect(r.stderr).toBe('');
    const s = await cli(['sample', '--checkpoint', ckpt, '--length', '25', '--temperature', '0']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout.replace(/\n$/, '')).toMatch(/^[the walnds.]{25}$/);
  });

  it('--embedding-dim: 0 trains one-hot inputs as before, N an embedding of N; sample, predict and export read both', async () => {
    for (const [dim, header, inputs] of [['0', 'one-hot inputs', null], ['5', 'embedding 5', [11, 5]]] as const) {
      const ckpt = p(`dim-${dim}-${backend}.safetensors`);
      const r = await cli(['train', p('tiny.txt'), '--backend', backend, '--steps', '20', '--hidden', '8', '--seq-len', '10',
        '--batch', '4', '--sample-every', '0', '--sample-length', '5', '--embedding-dim', dim, '--out', ckpt, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`train: a character LSTM (hidden 8, 11 characters, ${header}) on tiny.txt`);
      const st = readSafetensors(new Uint8Array(readFileSync(ckpt)));
      if (inputs) expect(st.tensors['embed.weight'].shape).toEqual(inputs);
      else expect(Object.keys(st.tensors)).not.toContain('embed.weight');
      expect(st.tensors['rnn.weight_ih_l0'].shape).toEqual([32, inputs ? 5 : 11]);
      const s = await cli(['sample', '--checkpoint', ckpt, '--length', '15', '--temperature', '0', '--prime', 'the ']);
      expect(s.code, s.stderr).toBe(0);
      expect(s.stdout.replace(/\n$/, '')).toMatch(/^the [the walnds.]{15}$/);
      const f = await cli(['predict', '--checkpoint', ckpt, '--text', 'the whale', '--top', '2']);
      expect(f.code, f.stderr).toBe(0);
      expect(f.stdout).toMatch(/the text: 9 characters; cross-entropy [\d.]+ nats\/char/);
      const e = await cli(['export', '--checkpoint', ckpt, '--out', p(`dim-${dim}-${backend}.onnx`)]);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stdout).toContain(inputs ? 'inputs x [T, B] int64 token ids' : 'inputs x [T, B, 11]');
    }
    const csv = await cli(['train', p('waves.csv'), '--embedding-dim', '4', '--epochs', '1']);
    expect(csv.code).toBe(2);
    expect(csv.stderr).toMatch(/--embedding-dim applies to text training only/);
  });

  it('train on a CSV of sequences: next-value regression with validation, baseline, checkpoint and loss curve', async () => {
    const ckpt = p(`waves-${backend}.safetensors`), svg = p(`waves-${backend}.svg`);
    const r = await cli(['train', p('waves.csv'), '--backend', backend, '--epochs', '3', '--hidden', '8', '--batch', '8',
      '--lr', '0.01', '--out', ckpt, '--loss-svg', svg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('predicting the next value of 40 sequences of length 12');
    expect(r.stdout).toContain('(36 train, 4 validation)');
    expect(r.stdout).toMatch(/final training MSE [\d.]+, validation MSE [\d.]+ \(standardized units\)/);
    expect(r.stdout).toMatch(/baseline "next = current": training MSE [\d.]+, validation MSE [\d.]+/);
    const st = readSafetensors(new Uint8Array(readFileSync(ckpt)));
    expect(st.metadata['bptt_wasm.task']).toBe('regression');
    expect(JSON.parse(st.metadata['bptt_wasm.standardize']).mean).toBeCloseTo(10, 0);
    expect(readFileSync(svg, 'utf8')).toContain('MSE (validation)');
    // a regression checkpoint is not a character model
    const s = await cli(['sample', '--checkpoint', ckpt]);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/is not a character model/);
  });
});

describe('bptt-wasm demo on two wasm threads', () => {
  it('reports the threaded speed, one thread and js, and stops early on --steps', async () => {
    const r = await cli(['demo', '--threads', '2', '--seconds', '5', '--steps', '12', '--chapters', '2', '--hidden', '16', '--seq-len', '8',
      '--batch', '8', '--sample-every', '0', '--sample-length', '20', '--compare-seconds', '0.2', '--out', p('threads.safetensors'), '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('backend wasm (2 threads)');
    expect(r.stdout).toMatch(/trained 12 steps \(768 characters\)/);
    expect(r.stdout).toMatch(/speed: wasm [\d,]+ chars\/s on 2 threads \([\d,]+ on 1 thread\), js [\d,]+ chars\/s: wasm\/js = [\d.]+x \([\d.]+x thread for thread\)/);
    expect(r.stderr).toBe('');
  });
});

describe('bptt-wasm train and sample: failures exit 1 with the reason', () => {
  it('names a missing file, a bad CSV line, a text too short and a corrupt checkpoint', async () => {
    writeFileSync(p('bad.csv'), '1,2,3\n4,five,6\n');
    writeFileSync(p('ragged.csv'), '1,2,3\n4,5\n');
    writeFileSync(p('short.txt'), 'abc');
    writeFileSync(p('junk.safetensors'), 'this is not a safetensors file');
    writeFileSync(p('latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const cases: Array<[string[], RegExp]> = [
      [['train', p('nope.txt')], /training file not found: .*nope\.txt/],
      [['train', p('bad.csv'), '--epochs', '1'], /bad\.csv:2: column 2 is "five", not a number/],
      [['train', p('ragged.csv'), '--epochs', '1'], /ragged\.csv:2: 2 values, but the first sequence has 3/],
      [['train', p('short.txt'), '--steps', '1'], /too short for batchSize 32 x seqLength 64/],
      [['train', p('latin1.txt'), '--steps', '1'], /latin1\.txt is not valid UTF-8 text/],
      [['sample', '--checkpoint', p('missing.safetensors')], /checkpoint not found: .*missing\.safetensors/],
      [['sample', '--checkpoint', p('junk.safetensors')], /cannot load .*junk\.safetensors/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr, 'no stack trace').not.toMatch(/\n\s+at /);
    }
  });
});

describe.each(BACKENDS)('bptt-wasm gradflow on %s', (backend) => {
  it('prints the table and writes the SVG and JSON', async () => {
    const svg = p(`gf-${backend}.svg`), json = p(`gf-${backend}.json`);
    const r = await cli(['gradflow', '--backend', backend, '--T', '30', '--hidden', '16', '--svg', svg, '--json', json]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`T = 30, hidden 16`);
    for (const label of ['tanh RNN (PyTorch init)', 'IRNN (ReLU, W_hh = I)', 'LSTM (PyTorch init)', 'LSTM, forget bias 1', 'GRU (PyTorch init)']) {
      expect(r.stdout).toContain(`| ${label} |`);
    }
    expect(readFileSync(svg, 'utf8').match(/<path /g)).toHaveLength(5);
    const data = JSON.parse(readFileSync(json, 'utf8'));
    expect(data.rows).toHaveLength(5);
    expect(data.rows[0].norms).toHaveLength(30);
  });
});

describe.each(BACKENDS)('bptt-wasm experiment adding on %s', (backend) => {
  it('trains each model at each T and prints the table against the baseline', async () => {
    const md = p(`adding-${backend}.md`);
    const r = await cli(['experiment', 'adding', '--backend', backend, '--T', '6,8', '--models', 'irnn,gru', '--steps', '20',
      '--hidden', '8', '--batch', '8', '--test-size', '50', '--jobs', '1', '--out', md]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('| T | model | test MSE | vs. baseline 0.167 | steps | lr | training time |');
    for (const T of [6, 8]) for (const m of ['IRNN (ReLU, W_hh = I)', 'GRU (PyTorch init)']) expect(r.stdout).toContain(`| ${T} | ${m} |`);
    expect(r.stdout).toMatch(/baseline: always predicting 1 gives MSE 0\.167/);
    expect(r.stderr).toMatch(/\[irnn T=6\] step 20\/20 train MSE/);
    const file = readFileSync(md, 'utf8');
    expect(file).toContain('Command: `bptt-wasm experiment adding');
    expect(file).toContain('| 8 | GRU (PyTorch init) |');
  });
});

describe('bptt-wasm experiment adding with worker threads', () => {
  it('gives the same table with --jobs 2 as with --jobs 1 (times aside)', async () => {
    const args = ['experiment', 'adding', '--T', '5', '--models', 'rnn-tanh,lstm', '--steps', '10', '--hidden', '4', '--batch', '4',
      '--test-size', '20', '-q'];
    const [a, b] = await Promise.all([cli([...args, '--jobs', '1']), cli([...args, '--jobs', '2'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const rows = (s: string): string[] => s.split('\n').filter((l) => l.startsWith('| 5 |')).map((l) => l.replace(/\| [\d.]+ s \|$/, ''));
    expect(rows(b.stdout)).toEqual(rows(a.stdout));
    expect(rows(a.stdout)).toHaveLength(2);
  });
});

/** Start the CLI; `when(child, stdout, stderr)` is called on every output chunk until it returns true. */
function cliLive(args: string[], when: (child: ReturnType<typeof spawn>, out: string, errText: string) => boolean): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '', stderr = '', done = false;
    const check = (): void => { if (!done) done = when(child, stdout, stderr); };
    child.stdout.on('data', (d) => { stdout += d; check(); });
    child.stderr.on('data', (d) => { stderr += d; check(); });
    child.stdout.on('error', () => { /* we closed it on purpose */ });
    const timer = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`timed out: ${args.join(' ')}\n${stderr}`)); }, 60_000);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

describe.each(BACKENDS)('bptt-wasm runs that are stopped or lose their output keep their checkpoint (%s)', (backend) => {
  const long = (ckpt: string): string[] => ['train', p('tiny.txt'), '--backend', backend, '--steps', '1000000', '--hidden', '8',
    '--seq-len', '8', '--batch', '4', '--sample-every', '0', '--sample-length', '10', '--out', ckpt];

  it.each(['SIGINT', 'SIGTERM'] as const)('%s during training: stops after the step, saves, exits 0', async (sig) => {
    const ckpt = p(`${sig}-${backend}.safetensors`);
    const r = await cliLive(long(ckpt), (child, _o, e) => {
      if (!/train step \d+/.test(e)) return false;
      child.kill(sig);
      return true;
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(sig === 'SIGINT' ? '(interrupted: saving the checkpoint' : '(terminated: saving the checkpoint');
    const steps = Number(/trained (\d+) steps/.exec(r.stdout)?.[1]);
    expect(steps).toBeGreaterThan(0);
    expect(steps).toBeLessThan(1_000_000);
    const st = readSafetensors(new Uint8Array(readFileSync(ckpt)));
    expect(st.metadata['bptt_wasm.steps']).toBe(String(steps));
  }, 60_000);

  it('SIGTERM during CSV training: stops, saves the regression checkpoint, exits 0', async () => {
    const ckpt = p(`csv-term-${backend}.safetensors`);
    const r = await cliLive(['train', p('waves.csv'), '--backend', backend, '--epochs', '100000', '--hidden', '4', '--batch', '4',
      '--out', ckpt], (child, _o, e) => {
      if (!/step \d+/.test(e)) return false;
      child.kill('SIGTERM');
      return true;
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/checkpoint: .* \(interrupted after \d+ steps\)/);
    expect(readSafetensors(new Uint8Array(readFileSync(ckpt))).metadata['bptt_wasm.task']).toBe('regression');
  }, 60_000);

  it('a closed stdout (train ... | head): no EPIPE crash, the run finishes and saves', async () => {
    const ckpt = p(`pipe-${backend}.safetensors`);
    // enough steps that the run is still writing samples when the pipe closes (60 took ~0.2 s on wasm: it could end first)
    const r = await cliLive(['train', p('tiny.txt'), '--backend', backend, '--steps', '600', '--hidden', '8', '--seq-len', '8',
      '--batch', '4', '--sample-every', '1', '--sample-length', '50', '--out', ckpt, '-q'], (child, o) => {
      if (o.length === 0) return false;
      child.stdout!.destroy(); // what `| head` does once it has its lines
      return true;
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('(stdout was closed: the run goes on, its output is dropped)');
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|\n\s+at /);
    expect(readSafetensors(new Uint8Array(readFileSync(ckpt))).metadata['bptt_wasm.steps']).toBe('600');
  }, 60_000);
});

describe('bptt-wasm checks its output files before training', () => {
  it('exits 1 at once, without training, when --out or another output cannot be written', async () => {
    writeFileSync(p('plain-file'), 'x');
    const cases: Array<[string[], RegExp]> = [
      [['train', p('tiny.txt'), '--steps', '5', '--out', p('plain-file/model.safetensors')], /--out .*plain-file\/model\.safetensors is not writable \((ENOTDIR|EEXIST)\); nothing was trained/],
      [['train', p('tiny.txt'), '--steps', '5', '--out', dir], /--out .* is a folder, not a file/],
      [['train', p('waves.csv'), '--epochs', '1', '--out', p('plain-file/w.safetensors')], /--out .* is not writable/],
      [['train', p('tiny.txt'), '--steps', '5', '--loss-svg', p('plain-file/l.svg'), '--out', p('ok.safetensors')], /--loss-svg .* is not writable/],
      [['demo', '--steps', '5', '--chapters', '2', '--out', p('plain-file/d.safetensors')], /--out .* is not writable/],
      [['gradflow', '--T', '5', '--svg', p('plain-file/g.svg')], /--svg .* is not writable/],
      [['experiment', 'adding', '--T', '5', '--steps', '2', '--out', p('plain-file/a.md')], /--out .* is not writable/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stdout, args.join(' ')).not.toMatch(/trained|\| model/);
    }
    expect(existsSync(p('ok.safetensors'))).toBe(false);
  }, 60_000);
});

describe('bptt-wasm predict', () => {
  it.each(BACKENDS)('forecasts each CSV row in its own units with the stored mean/std (%s)', async (backend) => {
    const ckpt = p(`predict-${backend}.safetensors`);
    const t = await cli(['train', p('waves.csv'), '--backend', backend, '--epochs', '30', '--hidden', '16', '--batch', '8',
      '--lr', '0.02', '--val-split', '0', '--out', ckpt, '-q']);
    expect(t.code, t.stderr).toBe(0);
    // the first 11 values of 5 rows: the model forecasts the 12th (and two after it)
    const rows = Array.from({ length: 5 }, (_, n) => Array.from({ length: 11 }, (_, k) => 10 + 3 * Math.sin(0.5 * k + n)));
    writeFileSync(p('head.csv'), rows.map((r) => r.map((v) => v.toFixed(4)).join(',')).join('\n') + '\n');
    const r = await cli(['predict', p('head.csv'), '--checkpoint', ckpt, '--horizon', '3']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('forecast_1,forecast_2,forecast_3');
    expect(lines).toHaveLength(6);
    // in the CSV's units (around 10 +- 3), and nearer the true next value than the series' mean is
    let errModel = 0, errMean = 0;
    for (let n = 0; n < 5; n++) {
      const f = lines[n + 1].split(',').map(Number);
      expect(f).toHaveLength(3);
      for (const v of f) expect(v).toBeGreaterThan(5), expect(v).toBeLessThan(15);
      const truth = 10 + 3 * Math.sin(0.5 * 11 + n);
      errModel += Math.abs(f[0] - truth);
      errMean += Math.abs(10 - truth);
    }
    expect(errModel).toBeLessThan(errMean);
  }, 60_000);

  it('scores a text with a character model and lists the next characters; wrong inputs are named', async () => {
    const ckpt = p('predict-char.safetensors');
    const t = await cli(['train', p('tiny.txt'), '--steps', '40', '--hidden', '12', '--seq-len', '10', '--batch', '4',
      '--sample-every', '0', '--sample-length', '1', '--out', ckpt, '-q']);
    expect(t.code, t.stderr).toBe(0);
    const r = await cli(['predict', '--checkpoint', ckpt, '--text', 'the whale and the se', '--top', '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/the text: 20 characters; cross-entropy [\d.]+ nats\/char \([\d.]+ bits\/char\)/);
    const listed = r.stdout.split('\n').filter((l) => /^ {2}"/.test(l));
    expect(listed).toHaveLength(3);
    const probs = listed.map((l) => Number(l.trim().split(/\s+/).at(-1)));
    expect(probs[0]).toBeGreaterThanOrEqual(probs[1]);
    writeFileSync(p('more.txt'), 'the sea and the whale');
    const f = await cli(['predict', p('more.txt'), '--checkpoint', ckpt]);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toContain(`${p('more.txt')}: 21 characters`);
    const bad: Array<[string[], number, RegExp]> = [
      [['predict', '--checkpoint', ckpt, '--text', 'xyz!'], 1, /character "x" is not in the model's vocabulary/],
      [['predict', '--checkpoint', ckpt], 2, /give an input file or --text, one of the two/],
      [['predict', '--checkpoint', ckpt, '--text', 'the', '--horizon', '2'], 2, /--horizon applies to regression models only/],
      [['predict', p('head.csv'), '--checkpoint', p('nope.safetensors')], 1, /checkpoint not found/],
      [['predict', '--checkpoint', p('predict-wasm.safetensors'), '--text', 'the'], 2, /--text and --top apply to character models only/],
    ];
    for (const [args, code, msg] of bad) {
      const b = await cli(args);
      expect(b.code, args.join(' ')).toBe(code);
      expect(b.stderr, args.join(' ')).toMatch(msg);
    }
  }, 60_000);
});

describe('bptt-wasm bench', () => {
  it('every script in bench/ answers --help without running', async () => {
    const benchDir = resolve(import.meta.dirname, '..', 'bench');
    for (const f of ['run.mjs', 'tfjs.mjs', 'kernels.mjs', 'rss.mjs']) {
      const r = await new Promise<Run>((res) => execFile(process.execPath, [join(benchDir, f), '--help'], { timeout: 60_000 },
        (error, stdout, stderr) => res({ code: error ? 1 : 0, stdout, stderr })));
      expect(r.code, f + r.stderr).toBe(0);
      expect(r.stdout, f).toMatch(new RegExp(`^usage: node (--expose-gc )?bench/${f.replace('.', '\\.')}`));
    }
  }, 60_000);

  it('runs bench/run.mjs and passes the options through', async () => {
    // bench/run.mjs writes bench/results.json; keep the repository's copy as it was.
    const results = resolve(import.meta.dirname, '..', 'bench', 'results.json');
    const saved = existsSync(results) ? readFileSync(results) : null;
    try {
      const r = await cli(['bench', '--workloads', 'W4', '--quick', '--no-js'], { timeout: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('bptt-wasm benchmark');
      expect(r.stdout).toMatch(/W4\s+wasm-simd/);
      expect(r.stdout).not.toMatch(/W1\s/);
      const bad = await cli(['bench', '--workloads', 'W99', '--quick', '--no-js']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain("unknown workload 'W99'");
    } finally {
      if (saved) writeFileSync(results, saved);
      else rmSync(results, { force: true });
    }
  });
});
