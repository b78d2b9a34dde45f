// Training progress: a cli-progress bar on a TTY, a plain log line every N steps
// otherwise (CI logs, pipes), both showing loss, steps/s and ETA.

import { SingleBar } from 'cli-progress';

export interface ProgressOptions {
  /** true: show (bar on a TTY, log lines otherwise); false: silent. Default true. */
  enabled?: boolean;
  /** when not a TTY: one line every this many steps (default 100; the last step always logs) */
  logEvery?: number;
  /** where to write (default process.stderr) */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** force the bar (true) or log lines (false) instead of asking stream.isTTY */
  tty?: boolean;
  /** text before the bar / at the start of each line */
  label?: string;
}

export interface ProgressValues {
  loss: number;
  lr?: number;
  epoch?: number;
  epochs?: number;
  valLoss?: number;
}

/** Format seconds as h:mm:ss or m:ss. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(3) : x.toFixed(4);
}

export class Progress {
  readonly total: number;
  private readonly enabled: boolean;
  private readonly tty: boolean;
  private readonly logEvery: number;
  private readonly stream: NodeJS.WritableStream;
  private readonly label: string;
  private bar: SingleBar | null = null;
  private start = 0;
  private startStep = 0;
  private lastLogged = -1;
  private stopped = false;

  /** @param total steps expected in all (for ETA and the bar) */
  constructor(total: number, opts: ProgressOptions = {}) {
    this.total = Math.max(0, Math.floor(total));
    this.enabled = opts.enabled ?? true;
    const stream = opts.stream ?? process.stderr;
    this.stream = stream;
    this.tty = opts.tty ?? Boolean(stream.isTTY);
    const le = opts.logEvery ?? 100;
    if (!(Number.isInteger(le) && le >= 1)) throw new Error(`bptt-wasm: progress.logEvery must be an integer >= 1, got ${le}`);
    this.logEvery = le;
    this.label = opts.label ?? 'train';
  }

  /** Start timing (and draw the bar) at `step` steps already done. */
  begin(step = 0): void {
    this.start = performance.now();
    this.startStep = step;
    if (!this.enabled || !this.tty) return;
    this.bar = new SingleBar({
      stream: this.stream as NodeJS.WritableStream,
      format: `${this.label} |{bar}| {value}/{total} | {epochs} | loss {loss} | {rate} steps/s | ETA {etaText}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 10,
    });
    this.bar.start(this.total, step, { loss: '-', rate: '-', etaText: '--:--', epochs: '' });
  }

  /** Report that `step` steps are done, with the latest values. */
  update(step: number, v: ProgressValues): void {
    if (!this.enabled || this.stopped) return;
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = elapsed > 0 ? (step - this.startStep) / elapsed : 0;
    const eta = rate > 0 ? (this.total - step) / rate : NaN;
    const epochs = v.epoch !== undefined ? `epoch ${v.epoch}${v.epochs !== undefined ? `/${v.epochs}` : ''}` : '';
    if (this.bar) {
      this.bar.update(step, { loss: fmt(v.loss), rate: rate.toFixed(1), etaText: formatDuration(eta), epochs });
      return;
    }
    if (step === this.lastLogged) return;
    if (step % this.logEvery === 0 || step === this.total) {
      this.lastLogged = step;
      const parts = [`${this.label} step ${step}/${this.total}`];
      if (epochs) parts.push(epochs);
      parts.push(`loss ${fmt(v.loss)}`);
      if (v.valLoss !== undefined) parts.push(`val_loss ${fmt(v.valLoss)}`);
      if (v.lr !== undefined) parts.push(`lr ${v.lr.toExponential(2)}`);
      parts.push(`${rate.toFixed(1)} steps/s`, `ETA ${formatDuration(eta)}`);
      this.stream.write(parts.join(' | ') + '\n');
    }
  }

  /** A message that should not garble the bar (e.g. an epoch summary). */
  log(message: string): void {
    if (!this.enabled) return;
    if (this.bar) {
      // cli-progress redraws on the next update; write on a fresh line meanwhile.
      this.stream.write('\n' + message + '\n');
    } else {
      this.stream.write(message + '\n');
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bar?.stop();
  }
}
