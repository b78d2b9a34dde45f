// Training progress: on a TTY one bar (cli-progress's MultiBar) that other output can be
// printed above without garbling it; otherwise (CI logs, pipes) a plain line every N steps
// and/or every few seconds. Both show the same fields: by default the step, loss, steps/s
// and ETA; a caller can show its own (the CLI shows a smoothed loss and characters/s).

import { clearLine, cursorTo } from 'node:readline';
import { MultiBar } from 'cli-progress';
import { BpttError } from './errors.js';

/** Where progress goes: any writable text stream (process.stderr by default); no Node types in the public API. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}
type Out = ProgressStream;

export interface ProgressOptions<V extends ProgressValues = ProgressValues> {
  /** true: show (bar on a TTY, log lines otherwise); false: silent (print() still prints). Default true. */
  enabled?: boolean;
  /**
   * when not a TTY: one line every this many steps (default 100, or none when logSeconds is
   * given; Infinity: none). The last step (fraction 1) always logs.
   */
  logEvery?: number;
  /** when not a TTY: also a line at the first step and then whenever this many seconds have passed since the last line */
  logSeconds?: number;
  /** where to write (default process.stderr) */
  stream?: Out;
  /** force the bar (true) or log lines (false) instead of asking stream.isTTY */
  tty?: boolean;
  /** text before the bar / at the start of each line */
  label?: string;
  /**
   * show an exponential moving average of the loss with this weight on the newest value
   * (0.05: about the last 20 steps); default 1, the latest loss as it is
   */
  lossSmoothing?: number;
  /**
   * The fields to show, joined with ' | ': after the bar on a TTY (status.tty true), after the
   * label in a log line. Default: step/total, epoch, loss, steps/s and ETA, plus val_loss and
   * lr in log lines.
   */
  fields?: (status: ProgressStatus<V>) => string[];
}

export interface ProgressValues {
  loss: number;
  lr?: number;
  epoch?: number;
  epochs?: number;
  valLoss?: number;
  /** the fraction done in [0, 1] when it is not step / total (e.g. under a time limit) */
  fraction?: number;
  /** seconds of work so far when not the time since begin() (e.g. without time spent sampling); for steps/s and the ETA */
  seconds?: number;
}

/** What a `fields` function formats. */
export interface ProgressStatus<V extends ProgressValues = ProgressValues> {
  step: number;
  total: number;
  /** done, in [0, 1] */
  fraction: number;
  /** seconds since begin(), or values.seconds */
  seconds: number;
  stepsPerSecond: number;
  /** seconds left (NaN while unknown) */
  eta: number;
  /** the loss to show: the latest, or its moving average (lossSmoothing) */
  loss: number;
  /** the values of the latest update() */
  values: V;
  /** true: the fields of the bar; false: of a log line */
  tty: boolean;
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

/** The default fields: fit's. */
function defaultFields(s: ProgressStatus): string[] {
  const v = s.values;
  const epochs = v.epoch !== undefined ? `epoch ${v.epoch}${v.epochs !== undefined ? `/${v.epochs}` : ''}` : '';
  const tail = [`${s.stepsPerSecond.toFixed(1)} steps/s`, `ETA ${formatDuration(s.eta)}`];
  if (s.tty) return [`${s.step}/${s.total}`, epochs, `loss ${fmt(s.loss)}`, ...tail].filter(Boolean);
  return [
    `step ${s.step}/${s.total}`, epochs, `loss ${fmt(s.loss)}`,
    v.valLoss !== undefined ? `val_loss ${fmt(v.valLoss)}` : '',
    v.lr !== undefined ? `lr ${v.lr.toExponential(2)}` : '',
    ...tail,
  ].filter(Boolean);
}

const BAR_WIDTH = 24;

export class Progress<V extends ProgressValues = ProgressValues> {
  readonly total: number;
  private readonly enabled: boolean;
  private readonly tty: boolean;
  private readonly logEvery: number;
  private readonly logMs: number;
  private readonly stream: Out;
  private readonly label: string;
  private readonly smoothing: number;
  private readonly fields: (s: ProgressStatus<V>) => string[];
  private multi: MultiBar | null = null;
  private begun = false;
  private stopped = false;
  private start = 0;
  private startStep = 0;
  private lastLogged = -1;
  private lastLogTime = -Infinity;
  private smoothed = NaN;
  // the latest update, formatted when the bar is drawn (at most fps times a second)
  private step = 0;
  private seconds = 0;
  private values: V | null = null;
  private lastDraw = 0;
  private readonly onExit = (): void => this.stop();

  /** @param total steps expected in all (for the bar, the fraction done and the ETA; Infinity if unknown) */
  constructor(total: number, opts: ProgressOptions<V> = {}) {
    this.total = Math.max(0, Math.floor(total));
    this.enabled = opts.enabled ?? true;
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    const le = opts.logEvery ?? (opts.logSeconds !== undefined ? Infinity : 100);
    if (!((Number.isInteger(le) && le >= 1) || le === Infinity)) throw new BpttError(`bptt-wasm: progress.logEvery must be an integer >= 1 or Infinity, got ${le}`);
    this.logEvery = le;
    const ls = opts.logSeconds ?? Infinity;
    if (!(ls > 0)) throw new BpttError(`bptt-wasm: progress.logSeconds must be > 0, got ${ls}`);
    this.logMs = ls * 1000;
    const w = opts.lossSmoothing ?? 1;
    if (!(w > 0 && w <= 1)) throw new BpttError(`bptt-wasm: progress.lossSmoothing must be in (0, 1], got ${w}`);
    this.smoothing = w;
    this.label = opts.label ?? 'train';
    this.fields = opts.fields ?? (defaultFields as (s: ProgressStatus<V>) => string[]);
  }

  /** Start timing (and draw the bar) at `step` steps already done. */
  begin(step = 0): void {
    if (this.begun) return;
    this.begun = true;
    this.start = performance.now();
    this.startStep = this.step = step;
    if (!this.enabled || !this.tty) return;
    // One bar in a MultiBar: its log() prints above the bar and redraws the bar below it.
    // (SingleBar.stop() restores the cursor to where the bar started: over anything printed since.)
    this.multi = new MultiBar({
      stream: this.stream as NodeJS.WritableStream,
      format: (_o, params) => this.barLine(params.maxWidth),
      fps: 10,
      // Redraw every frame: after a message printed above, the bar must come back even if unchanged.
      forceRedraw: true,
      // true: cut the bar at the terminal's width (a wrapped bar cannot be redrawn in place)
      // and leave the terminal's line wrapping on for what is printed above it.
      linewrap: true,
      // A visible cursor: nothing to restore if the process is killed (Ctrl-C) mid-bar.
      hideCursor: false,
      clearOnComplete: false,
      gracefulExit: false,
    });
    this.multi.create(1, 0);
    this.multi.update(); // draw now, not on the first frame
    process.once('exit', this.onExit);
  }

  /** Report that `step` steps are done, with the latest values. */
  update(step: number, v: V): void {
    if (!this.begun) this.begin(0);
    const loss = v.loss;
    this.smoothed = Number.isFinite(this.smoothed) ? (1 - this.smoothing) * this.smoothed + this.smoothing * loss : loss;
    if (!this.enabled || this.stopped) return;
    this.step = step;
    this.values = v;
    const now = performance.now();
    this.seconds = v.seconds ?? (now - this.start) / 1000;
    if (this.multi) {
      // The bar formats the latest values when it draws, on a timer (10 per second); draw from
      // here too if the timer has not run for a while (a caller that does not yield).
      if (now - this.lastDraw > 250) this.multi.update();
      return;
    }
    if (step === this.lastLogged) return;
    const status = this.status(false);
    if (status.fraction >= 1 || (Number.isFinite(this.logEvery) && step % this.logEvery === 0) ||
      (Number.isFinite(this.logMs) && now - this.lastLogTime >= this.logMs)) {
      this.lastLogged = step;
      this.lastLogTime = now;
      this.stream.write(`${this.label} ${this.fields(status).join(' | ')}\n`);
    }
  }

  /** A progress message (e.g. an epoch summary) on the progress stream, above the bar; silent when disabled. */
  log(message: string): void {
    if (this.enabled) this.print(message, this.stream);
  }

  /**
   * Output that is not progress (e.g. a sample of generated text): written to `to` (default
   * stdout) even when progress is disabled; on a TTY above the bar, which is redrawn below it.
   */
  print(message: string, to: ProgressStream = process.stdout): void {
    const multi = this.multi;
    if (!multi || this.stopped) {
      to.write(message + '\n');
      return;
    }
    if (to === this.stream) {
      multi.log(message + '\n');
    } else {
      // Another stream on the same terminal (stdout under a bar on stderr): clear the bar's line first.
      cursorTo(this.stream as NodeJS.WritableStream, 0);
      clearLine(this.stream as NodeJS.WritableStream, 0);
      to.write(message + '\n');
    }
    multi.update(); // write it now (MultiBar.log only queues) and redraw the bar below it
  }

  /** Draw the bar a last time and end its line (on a TTY). Further updates are ignored. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.multi) {
      process.off('exit', this.onExit);
      this.multi.stop();
    }
  }

  private status(tty: boolean): ProgressStatus<V> {
    const v = this.values!;
    const step = this.step, seconds = this.seconds;
    const fraction = Math.min(1, Math.max(0, v.fraction ?? (this.total > 0 ? step / this.total : 1)));
    const fraction0 = v.fraction !== undefined || !(this.total > 0) ? 0 : this.startStep / this.total;
    return {
      step, total: this.total, fraction, seconds,
      stepsPerSecond: seconds > 0 ? (step - this.startStep) / seconds : 0,
      eta: fraction > fraction0 ? (seconds * (1 - fraction)) / (fraction - fraction0) : NaN,
      loss: this.smoothed, values: v, tty,
    };
  }

  private barLine(maxWidth: number): string {
    this.lastDraw = performance.now();
    const status = this.values ? this.status(true) : null;
    const fraction = status ? status.fraction : this.total > 0 ? Math.min(1, this.startStep / this.total) : 0;
    const full = Math.round(fraction * BAR_WIDTH);
    let line = `${this.label} |${'\u2588'.repeat(full)}${'\u2591'.repeat(BAR_WIDTH - full)}|`;
    if (status) line += ' ' + this.fields(status).join(' | ');
    // One column short of the width: a character in the last column can wrap on some terminals.
    return line.slice(0, Math.max(1, maxWidth - 1));
  }
}
