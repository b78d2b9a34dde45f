// The demo page's logic: a character model (one-hot in, next-character logits out) trained
// with truncated BPTT on the text in the box, all in this page. The package is loaded as
// plain ES modules from dist/ (no bundler); `globalThis.demo` is for the browser test.

import {
  Adam, CharStream, CharVocab, checkpointBytes, createModel, gradFlowChart, gradientFlow, loadCheckpointBytes,
  lossCurveChart, sample, trainStep,
} from '../../dist/src/browser.js';

const TEXTS = {
  'Shakespeare, three sonnets': `Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
So long as men can breathe or eyes can see,
So long lives this, and this gives life to thee.

When, in disgrace with fortune and men's eyes,
I all alone beweep my outcast state,
And trouble deaf heaven with my bootless cries,
And look upon myself, and curse my fate,
Wishing me like to one more rich in hope,
Featured like him, like him with friends possess'd,
Desiring this man's art and that man's scope,
With what I most enjoy contented least;
Yet in these thoughts myself almost despising,
Haply I think on thee, and then my state,
Like to the lark at break of day arising
From sullen earth, sings hymns at heaven's gate;
For thy sweet love remember'd such wealth brings
That then I scorn to change my state with kings.

Let me not to the marriage of true minds
Admit impediments. Love is not love
Which alters when it alteration finds,
Or bends with the remover to remove:
O no! it is an ever-fixed mark
That looks on tempests and is never shaken;
It is the star to every wandering bark,
Whose worth's unknown, although his height be taken.
Love's not Time's fool, though rosy lips and cheeks
Within his bending sickle's compass come;
Love alters not with his brief hours and weeks,
But bears it out even to the edge of doom.
If this be error and upon me proved,
I never writ, nor no man ever loved.
`,
  'Jane Austen, Pride and Prejudice (opening)': `It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.

However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.

"My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is let at last?"

Mr. Bennet replied that he had not.

"But it is," returned she; "for Mrs. Long has just been here, and she told me all about it."

Mr. Bennet made no answer.

"Do you not want to know who has taken it?" cried his wife impatiently.

"You want to tell me, and I have no objection to hearing it."

This was invitation enough.

"Why, my dear, you must know, Mrs. Long says that Netherfield is taken by a young man of large fortune from the north of England; that he came down on Monday in a chaise and four to see the place, and was so much delighted with it, that he agreed with Mr. Morris immediately; that he is to take possession before Michaelmas, and some of his servants are to be in the house by the end of next week."

"What is his name?"

"Bingley."

"Is he married or single?"

"Oh! Single, my dear, to be sure! A single man of large fortune; four or five thousand a year. What a fine thing for our girls!"
`,
  'Counting in words (easy to learn)': Array.from({ length: 120 }, (_, i) => {
    const ones = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    return `${ones[Math.floor(i / 10) % 10]} ${ones[i % 10]}.`;
  }).join(' ') + '\n',
};

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const maxSteps = Number(params.get('steps')) || Infinity; // ?steps=N stops there (the browser test)
const state = { step: 0, losses: [], running: false, info: null, sample: '', chars: 0, seconds: 0 };
let model = null, opt = null, vocab = null, stream = null, recurrent = null, probe = null, flowStart = null, builtFor = '';

function settings() {
  const num = (id, lo, hi) => Math.min(hi, Math.max(lo, Math.round(Number($(id).value)) || lo));
  return {
    cell: $('cell').value, hiddenSize: num('hidden', 4, 512), seqLen: num('seq', 4, 200), batch: num('batch', 1, 128),
    lr: Math.max(1e-5, Number($('lr').value) || 0.005), threads: Number($('threads').value),
  };
}

function status(msg) {
  $('status').textContent = msg;
}

/** One fixed chunk of the text for the gradient-flow chart: the loss on its last character only. */
function makeProbe(ids) {
  const B = 4, T = Math.min(100, Math.floor((ids.length - 1) / B));
  const c = new CharStream(ids, vocab.size, T, B).next();
  const last = c.target.data.slice((T - 1) * B, T * B);
  return { batch: { x: c.x, target: { shape: [B], data: last } }, loss: { kind: 'cross_entropy', reduction: 'sum', lastStepOnly: true } };
}

const flowNorms = () => gradientFlow(model, probe).hiddenGradNorms[0];

async function build() {
  const s = settings();
  const text = $('text').value;
  if ([...text].length < 200) throw new Error('the text is too short: paste at least a few sentences');
  if (!vocab || builtFor !== JSON.stringify([s.cell, s.hiddenSize, s.threads, text])) {
    vocab = CharVocab.fromText(text);
    model?.dispose();
    model = await createModel({ cell: s.cell, inputSize: vocab.size, hiddenSize: s.hiddenSize, outputSize: vocab.size, threads: s.threads, seed: 1 });
    opt = null;
    Object.assign(state, { step: 0, losses: [], chars: 0, seconds: 0 });
    builtFor = JSON.stringify([s.cell, s.hiddenSize, s.threads, text]);
  }
  const ids = vocab.encode(text, { unknown: 'skip' });
  stream = new CharStream(ids, vocab.size, s.seqLen, s.batch);
  recurrent = null;
  probe = makeProbe(ids);
  if (!opt) opt = new Adam(model, { lr: s.lr });
  opt.lr = s.lr;
  if (state.step === 0) flowStart = flowNorms();
  showInfo();
}

function showInfo() {
  const i = model.info();
  state.info = i;
  const threads = i.threads > 1 ? `${i.threads} threads (Web Workers sharing the Wasm memory)` : '1 thread';
  $('info').innerHTML = `Host <b>${i.host}</b> · build <b>${i.wasmBuild === 'relaxed' ? 'relaxed SIMD (FMA)' : 'SIMD'}</b> · ${threads}` +
    (i.threadsNote ? `<br><span title="${i.threadsNote}">${i.threadsRequested} threads asked for: ${i.threadsNote}</span>` : '') +
    `<br>${crossOriginIsolated ? 'cross-origin isolated page' : 'page not cross-origin isolated'} · model memory ${(i.memoryBytes / 2 ** 20).toFixed(1)} MiB`;
  $('s-params').textContent = model.numParams.toLocaleString('en');
}

/** An SVG document as an image: inline SVGs would share one id space (the charts' clip paths). */
const svgImage = (svg, alt) => `<img alt="${alt}" src="data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}">`;

function render() {
  const L = state.losses;
  $('s-step').textContent = state.step.toLocaleString('en');
  const recent = L.slice(-20);
  $('s-loss').textContent = recent.length ? (recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(3) : '–';
  $('s-speed').textContent = state.seconds > 0 ? Math.round(state.chars / state.seconds).toLocaleString('en') : '–';
  if (L.length > 1) {
    $('loss-chart').innerHTML = svgImage(lossCurveChart({ name: 'training loss', loss: L },
      { title: '', smooth: 20, width: 560, height: 320, yLabel: 'cross-entropy (nats / char)' }), 'training loss');
  }
  if (flowStart) {
    const runs = [{ name: 'step 0', norms: flowStart }];
    if (state.step > 0) runs.push({ name: `step ${state.step}`, norms: flowNorms() });
    $('flow-chart').innerHTML = svgImage(gradFlowChart(runs, { title: '', width: 560, height: 320, xLabel: 't (the loss is on the last character)' }),
      'gradient norms through time');
  }
  const prime = vocab.encode('\n', { unknown: 'skip' });
  const tokens = sample(model, { prime: prime.length ? [...prime] : [0], length: 240, temperature: 0.7, seed: state.step }).tokens;
  state.sample = vocab.decode(tokens);
  $('sample').textContent = state.sample;
}

async function train() {
  $('train').disabled = true;
  try {
    await build();
  } catch (e) {
    status(`Cannot train: ${e.message}`);
    $('train').disabled = false;
    return;
  }
  state.running = true;
  $('stop').disabled = false;
  $('save').disabled = true;
  status('Training…');
  let lastRender = 0;
  const loss = { kind: 'cross_entropy', reduction: 'mean' };
  while (state.running && state.step < maxSteps) {
    // a slice of steps, then let the page paint and handle input
    const t0 = performance.now();
    while (performance.now() - t0 < 80 && state.step < maxSteps) {
      const b = stream.next();
      const start = recurrent && !b.reset ? { h0: recurrent.h, ...(recurrent.c ? { c0: recurrent.c } : {}) } : {};
      const r = trainStep(model, opt, [{ x: b.x, target: b.target, ...start }], { loss, clipGradNorm: 5 });
      recurrent = r.states[0];
      state.losses.push(r.loss);
      state.step++;
      state.chars += b.target.data.length;
    }
    state.seconds += (performance.now() - t0) / 1000;
    if (performance.now() - lastRender > 700) {
      render();
      lastRender = performance.now();
    }
    await new Promise((r) => setTimeout(r, 0));
  }
  render();
  state.running = false;
  $('stop').disabled = true;
  $('train').disabled = false;
  $('save').disabled = false;
  status(`Stopped after ${state.step} steps.`);
}

function save() {
  const bytes = checkpointBytes(model, { optimizer: opt, metadata: { 'demo.vocab': JSON.stringify(vocab.chars), 'demo.steps': String(state.step) } });
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: `${model.config.cell}-char-model.safetensors` });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  status(`Saved ${(bytes.length / 1024).toFixed(0)} KiB (PyTorch reads it with safetensors.torch.load_file).`);
}

async function load(file) {
  try {
    const { model: m, optimizer, metadata } = await loadCheckpointBytes(new Uint8Array(await file.arrayBuffer()),
      { threads: settings().threads }, `file '${file.name}'`);
    if (!metadata['demo.vocab']) {
      m.dispose();
      throw new Error('it has no demo.vocab metadata (save it from this page)');
    }
    model?.dispose();
    model = m;
    vocab = new CharVocab(JSON.parse(metadata['demo.vocab']));
    opt = optimizer ?? new Adam(model, { lr: settings().lr });
    $('cell').value = model.config.cell;
    $('hidden').value = String(model.config.hiddenSize);
    builtFor = JSON.stringify([model.config.cell, model.config.hiddenSize, settings().threads, $('text').value]);
    const ids = vocab.encode($('text').value, { unknown: 'skip' });
    stream = new CharStream(ids, vocab.size, settings().seqLen, settings().batch);
    recurrent = null;
    probe = makeProbe(ids);
    Object.assign(state, { step: Number(metadata['demo.steps'] ?? 0), losses: [], chars: 0, seconds: 0 });
    flowStart = flowNorms();
    showInfo();
    render();
    $('save').disabled = false;
    status(`Loaded '${file.name}' (${model.numParams.toLocaleString('en')} parameters); Train continues from it.`);
  } catch (e) {
    status(`Cannot load '${file.name}': ${e.message}`);
  }
}

for (const name of Object.keys(TEXTS)) $('preset').append(new Option(name, name));
$('preset').onchange = () => { $('text').value = TEXTS[$('preset').value]; };
$('text').value = TEXTS[$('preset').value];
$('threads').value = crossOriginIsolated ? '2' : '1';
$('train').onclick = train;
$('stop').onclick = () => { state.running = false; };
$('save').onclick = save;
$('load').onchange = (e) => { const f = e.target.files[0]; e.target.value = ''; if (f) void load(f); };

globalThis.demo = {
  state,
  ready: false,
  /** sum of the weights (float64): equal sums after save + load mean the same weights came back */
  paramSum: () => model.paramView().reduce((a, v) => a + v, 0),
  scramble: () => model.paramView().fill(0.01),
};
// Compile the kernels now so the first Train click starts at once.
build().then(() => {
  render();
  globalThis.demo.ready = true;
  $('train').disabled = false;
  status('Ready: press Train.');
}, (e) => status(`Cannot start: ${e.message}`));
