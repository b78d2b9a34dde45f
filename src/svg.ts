// Line charts as standalone SVG text: the gradient-flow picture (||dL/dh_t|| against t on
// a log scale, several models on one chart) and loss curves. Hand-written on purpose
// (see docs/CHOICES.md): two chart shapes, no dependencies, deterministic output that a
// test can read.

export interface Series {
  name: string;
  /** values; non-finite ones (and values <= 0 on a log axis) leave a gap */
  y: ArrayLike<number>;
  /** x of each value (default 0, 1, 2, ...) */
  x?: ArrayLike<number>;
  color?: string;
  /** SVG stroke-dasharray, e.g. '6 4' */
  dash?: string;
  /** stroke opacity (default 1), e.g. 0.3 for raw values under a smoothed line */
  opacity?: number;
  /** leave out of the legend */
  noLegend?: boolean;
}

export interface ChartOptions {
  title?: string;
  subtitle?: string;
  xLabel?: string;
  yLabel?: string;
  yScale?: 'linear' | 'log';
  width?: number;
  height?: number;
  /** horizontal reference lines, e.g. a baseline */
  hlines?: { y: number; label: string }[];
  xMin?: number;
  xMax?: number;
  yMin?: number;
  yMax?: number;
}

/** Okabe & Ito's palette: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const r1 = (v: number): string => (Math.round(v * 10) / 10).toString();

/** Tick values 1, 2 or 5 x 10^k apart, about `count` of them across [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return Number(v.toPrecision(6)).toString();
}

/** A multi-series line chart as a standalone SVG document. */
export function lineChart(series: Series[], opts: ChartOptions = {}): string {
  const W = opts.width ?? 760, H = opts.height ?? 440;
  const log = opts.yScale === 'log';
  const legendW = Math.min(220, 24 + 7 * Math.max(0, ...series.filter((s) => !s.noLegend).map((s) => s.name.length)));
  const m = { top: opts.title ? (opts.subtitle ? 58 : 40) : 16, right: 16 + legendW, bottom: 48, left: 68 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;

  // Data extent over the usable points.
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  const pts = series.map((s) => {
    const p: Array<[number, number] | null> = [];
    for (let i = 0; i < s.y.length; i++) {
      const x = s.x ? s.x[i] : i, y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y) || (log && y <= 0)) {
        p.push(null);
        continue;
      }
      p.push([x, y]);
      x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    return p;
  });
  for (const h of opts.hlines ?? []) {
    if (Number.isFinite(h.y) && (!log || h.y > 0)) { y0 = Math.min(y0, h.y); y1 = Math.max(y1, h.y); }
  }
  if (!Number.isFinite(x0)) { x0 = 0; x1 = 1; }
  if (!Number.isFinite(y0)) { y0 = log ? 1e-3 : 0; y1 = 1; }
  x0 = opts.xMin ?? x0; x1 = opts.xMax ?? x1;
  y0 = opts.yMin ?? y0; y1 = opts.yMax ?? y1;
  if (x1 === x0) x1 = x0 + 1;

  // Scales. Log: whole decades; linear: padded to nice ticks (starting at 0 when close).
  let yTicks: number[], ty0: number, ty1: number, yPos: (v: number) => number;
  if (log) {
    let d0 = Math.floor(Math.log10(y0));
    const d1 = Math.max(Math.ceil(Math.log10(y1)), d0 + 1);
    // Label every `every` decades; extend the bottom so that it gets a label too.
    const every = Math.max(1, Math.ceil((d1 - d0) / 8));
    d0 = d1 - every * Math.ceil((d1 - d0) / every);
    ty0 = d0; ty1 = d1;
    yTicks = [];
    for (let d = d1; d >= d0; d -= every) yTicks.push(d);
    yPos = (v) => m.top + ph * (1 - (Math.log10(v) - ty0) / (ty1 - ty0));
  } else {
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    if (y0 > 0 && y0 < (y1 - y0) * 0.5 && opts.yMin === undefined) y0 = 0;
    const t = niceTicks(y0, y1, 6);
    const step = t.length > 1 ? t[1] - t[0] : 1;
    ty0 = opts.yMin ?? Math.min(t[0], y0); ty1 = opts.yMax ?? (t[t.length - 1] < y1 ? t[t.length - 1] + step : t[t.length - 1]);
    yTicks = niceTicks(ty0, ty1, 6).filter((v) => v >= ty0 - 1e-12 && v <= ty1 + 1e-12);
    yPos = (v) => m.top + ph * (1 - (v - ty0) / (ty1 - ty0));
  }
  const xPos = (v: number): number => m.left + pw * ((v - x0) / (x1 - x0));
  const xTicks = niceTicks(x0, x1, 8).filter((v) => v >= x0 - 1e-9 && v <= x1 + 1e-9);

  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  if (opts.title) o.push(`<text x="${m.left}" y="22" font-size="15" font-weight="bold">${esc(opts.title)}</text>`);
  if (opts.subtitle) o.push(`<text x="${m.left}" y="40" fill="#555">${esc(opts.subtitle)}</text>`);

  // Grid and axes.
  o.push('<g stroke="#e3e3e3" stroke-width="1">');
  for (const t of yTicks) {
    const y = log ? m.top + ph * (1 - (t - ty0) / (ty1 - ty0)) : yPos(t);
    o.push(`<line x1="${m.left}" y1="${r1(y)}" x2="${m.left + pw}" y2="${r1(y)}"/>`);
  }
  for (const t of xTicks) o.push(`<line x1="${r1(xPos(t))}" y1="${m.top}" x2="${r1(xPos(t))}" y2="${m.top + ph}"/>`);
  o.push('</g>');
  o.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  o.push('<g fill="#333" text-anchor="end">');
  for (const t of yTicks) {
    if (log) {
      const y = m.top + ph * (1 - (t - ty0) / (ty1 - ty0));
      o.push(`<text x="${m.left - 6}" y="${r1(y + 4)}">10<tspan dy="-6" font-size="9">${t < 0 ? '\u2212' : ''}${Math.abs(t)}</tspan></text>`);
    } else {
      o.push(`<text x="${m.left - 6}" y="${r1(yPos(t) + 4)}">${fmtTick(t)}</text>`);
    }
  }
  o.push('</g><g fill="#333" text-anchor="middle">');
  for (const t of xTicks) o.push(`<text x="${r1(xPos(t))}" y="${m.top + ph + 16}">${fmtTick(t)}</text>`);
  o.push('</g>');
  if (opts.xLabel) o.push(`<text x="${r1(m.left + pw / 2)}" y="${H - 10}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  if (opts.yLabel) {
    o.push(`<text transform="translate(16 ${r1(m.top + ph / 2)}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  }

  // Clip the lines to the plot area (explicit yMin/yMax may cut them).
  o.push(`<clipPath id="plot"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`);
  o.push('<g clip-path="url(#plot)" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">');
  for (const h of opts.hlines ?? []) {
    if (!Number.isFinite(h.y) || (log && h.y <= 0)) continue;
    const y = r1(yPos(h.y));
    o.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#777" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  }
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    let d = '';
    let pen = false;
    for (const p of pts[i]) {
      if (!p) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${r1(xPos(p[0]))} ${r1(yPos(p[1]))}`;
      pen = true;
    }
    const extra = (s.dash ? ` stroke-dasharray="${s.dash}"` : '') + (s.opacity !== undefined ? ` stroke-opacity="${s.opacity}" stroke-width="1"` : '');
    if (d) o.push(`<path d="${d}" stroke="${color}"${extra}><title>${esc(s.name)}</title></path>`);
  });
  o.push('</g>');
  for (const h of opts.hlines ?? []) {
    if (!Number.isFinite(h.y) || (log && h.y <= 0)) continue;
    o.push(`<text x="${m.left + pw - 4}" y="${r1(yPos(h.y) - 5)}" text-anchor="end" fill="#555">${esc(h.label)}</text>`);
  }

  // Legend, right of the plot.
  const lx = m.left + pw + 14;
  let row = 0;
  series.forEach((s, i) => {
    if (s.noLegend) return;
    const y = m.top + 8 + row++ * 20;
    const color = s.color ?? PALETTE[i % PALETTE.length];
    o.push(`<line x1="${lx}" y1="${y}" x2="${lx + 22}" y2="${y}" stroke="${color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    o.push(`<text x="${lx + 28}" y="${y + 4}">${esc(s.name)}</text>`);
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

/** ||dL/dh_t|| against t, log scale, one line per model. */
export function gradFlowChart(runs: { name: string; norms: ArrayLike<number> }[], opts: ChartOptions = {}): string {
  return lineChart(runs.map((r) => ({ name: r.name, y: r.norms })), {
    title: 'Gradient flow through time at initialization',
    xLabel: 't (timestep; the loss is on the last step)',
    yLabel: '\u2016dL/dh_t\u2016  (log scale)',
    yScale: 'log',
    ...opts,
  });
}

/** A training run's loss history: `loss` per step (or epoch), optional `valLoss` and x values. */
export interface LossHistory {
  name?: string;
  loss: ArrayLike<number>;
  /** x of each loss value, e.g. step numbers or characters seen */
  x?: ArrayLike<number>;
  valLoss?: ArrayLike<number>;
  valX?: ArrayLike<number>;
}

/** Trailing moving average over `window` values (shorter at the start). */
export function movingAverage(y: ArrayLike<number>, window: number): Float64Array {
  const out = new Float64Array(y.length);
  let sum = 0, n = 0;
  for (let i = 0; i < y.length; i++) {
    sum += y[i]; n++;
    if (n > window) { sum -= y[i - window]; n--; }
    out[i] = sum / n;
  }
  return out;
}

/**
 * Loss against step (or epoch) for one or more runs; validation losses dashed. With
 * `smooth` > 1 the raw training loss is drawn faintly under its moving average over
 * `smooth` values.
 */
export function lossCurveChart(runs: LossHistory | LossHistory[], opts: ChartOptions & { smooth?: number } = {}): string {
  const list = Array.isArray(runs) ? runs : [runs];
  const series: Series[] = [];
  const smooth = Math.max(1, Math.floor(opts.smooth ?? 1));
  list.forEach((r, i) => {
    const color = PALETTE[i % PALETTE.length];
    const name = r.name ?? (list.length > 1 ? `run ${i + 1}` : 'loss');
    const x = r.x ? { x: r.x } : {};
    const label = r.valLoss ? `${name} (train)` : name;
    if (smooth > 1 && r.loss.length > smooth) {
      series.push({ name: `${label}, raw`, y: r.loss, ...x, color, opacity: 0.3, noLegend: true });
      series.push({ name: `${label} (mean of ${smooth})`, y: movingAverage(r.loss, smooth), ...x, color });
    } else {
      series.push({ name: label, y: r.loss, ...x, color });
    }
    if (r.valLoss && r.valLoss.length) {
      series.push({ name: `${name} (validation)`, y: r.valLoss, ...(r.valX ? { x: r.valX } : {}), color, dash: '6 4' });
    }
  });
  return lineChart(series, { title: 'Training loss', xLabel: 'step', yLabel: 'loss', ...opts });
}
