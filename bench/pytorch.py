#!/usr/bin/python3
"""PyTorch's CPU path on bench/workloads.mjs's training workloads W1-W4, for `npm run bench -- --with-pytorch`.

Same shapes, cell, loss and optimizer as bench/workloads.mjs: nn.RNN/LSTM/GRU (time-major,
one layer) + nn.Linear head, float32, summed MSE or summed softmax cross-entropy over every
step, full BPTT, plain SGD (lr 1e-4, no momentum). One training step = zero_grad, forward,
loss, backward, step: what workloads.mjs's trainStep does. With --weights the inputs are
makeBatch's own numbers, read from DIR/<W>.batch.safetensors (x, target) that bench/run.mjs
writes, so nothing here has to mirror the JS generator.

  /usr/bin/python3 bench/pytorch.py [--workloads W1,W2] [--threads 1,2] [--runs N]
                                    [--min-ms MS] [--weights DIR]

--weights DIR: start from DIR/<W>.safetensors (bptt-wasm's stateDict, written by
bench/run.mjs) and DIR/<W>.batch.safetensors instead of PyTorch's own init and data, so the first step's loss and the loss after
one update can be compared with bptt-wasm's. Prints one JSON object on stdout:
{ torch, blas (the BLAS library loaded), ompWaitPolicy, cpu, cores, date, configs, results:
[{ workload, threads, ompThreads, blasThreads, msPerStep, bestMsPerStep, samples, loss0, loss1 }] }.
Thread configurations: torch.set_num_threads (OpenMP) and, when the BLAS is OpenBLAS,
openblas_set_num_threads, each from --threads (default 1 up to the cores), every pair;
"1 thread" is (1, 1). Debian's libtorch calls whichever libblas.so.3 is installed: the
reference (netlib) BLAS makes PyTorch several times slower, so run it with OpenBLAS
(libopenblas0-pthread, or LD_LIBRARY_PATH to its directory; bench/run.mjs --torch-blas DIR). Timing: each sample repeats steps until it lasts --min-ms
(default 100 ms); the thread counts are interleaved (one sample of each per round) so a
neighbour's burst hits them alike; median and best of --runs rounds (default 11).
Python is only for this benchmark: the tests never need it.
"""

import argparse
import datetime
import json
import os
import struct
import sys
import time

# Passive OpenMP waits, unless the caller chose: with OpenMP's and OpenBLAS's pools both
# on, spinning OpenMP threads take the cores OpenBLAS's threads need (W2 with 2+2 threads
# on 2 cores: 3x slower than 1 thread). Read when libgomp loads, so set before torch.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import numpy as np  # noqa: E402
import torch  # noqa: E402

WORKLOADS = {
    'W1': dict(cell='rnn', I=32, H=128, O=32, T=50, B=32, loss='mse'),
    'W2': dict(cell='lstm', I=64, H=256, O=64, T=100, B=32, loss='mse'),
    'W3': dict(cell='gru', I=64, H=256, O=64, T=100, B=32, loss='mse'),
    'W4': dict(cell='lstm', I=65, H=128, O=65, T=25, B=1, loss='cross_entropy'),
}
CELLS = {'rnn': torch.nn.RNN, 'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}
LR = 1e-4


def make_batch(w, weights_dir):
    """bench/run.mjs's makeBatch numbers from DIR/<W>.batch.safetensors (x [T, B, I]; target
    [T, B, O] for mse, class ids stored as exact float32 integers for cross-entropy); without
    a weights directory (timing only, losses not comparable), numbers of the same shapes from
    torch's generator."""
    T, B, I, O = w['T'], w['B'], w['I'], w['O']
    if weights_dir:
        d = read_safetensors(os.path.join(weights_dir, f'{w["name"]}.batch.safetensors'))
        x, target = d['x'].reshape(T, B, I), d['target']
        if w['loss'] == 'cross_entropy':
            return x, target.reshape(T, B).to(torch.int64)
        return x, target.reshape(T, B, O)
    g = torch.Generator().manual_seed(12345)
    if w['loss'] == 'cross_entropy':
        x = torch.zeros(T * B, I)
        x[torch.arange(T * B), torch.randint(0, I, (T * B,), generator=g)] = 1
        return x.reshape(T, B, I), torch.randint(0, O, (T, B), generator=g)
    return torch.rand(T, B, I, generator=g) * 2 - 1, torch.rand(T, B, O, generator=g) * 2 - 1


def read_safetensors(path):
    """The F32 tensors of a .safetensors file (8-byte little-endian header size, JSON header, data)."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, spec in header.items():
        if name == '__metadata__':
            continue
        if spec['dtype'] != 'F32':
            raise ValueError(f'{path}: {name} is {spec["dtype"]}, expected F32')
        a, b = spec['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(raw[base + a:base + b], dtype='<f4').copy()).reshape(spec['shape'])
    return out


class Net(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.rnn = CELLS[w['cell']](w['I'], w['H'])
        self.out = torch.nn.Linear(w['H'], w['O'])

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y)


def setup(name, weights_dir):
    w = WORKLOADS[name]
    torch.manual_seed(1)
    net = Net(w).float()
    if weights_dir:
        sd = read_safetensors(os.path.join(weights_dir, f'{name}.safetensors'))
        net.load_state_dict(sd, strict=True)
    x, target = make_batch(dict(w, name=name), weights_dir)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    if w['loss'] == 'mse':
        lossf = torch.nn.MSELoss(reduction='sum')

        def loss_of(y):
            return lossf(y, target)
    else:
        lossf = torch.nn.CrossEntropyLoss(reduction='sum')
        flat = target.reshape(-1)

        def loss_of(y):
            return lossf(y.reshape(-1, w['O']), flat)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_of(net(x))
        loss.backward()
        opt.step()
        return loss.item()

    return step


def blas_library():
    """Path of the BLAS this process loaded (Debian's libtorch links libblas.so.3, an alternative)."""
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                path = line.split()[-1]
                if 'blas' in os.path.basename(path) and '.so' in path:
                    return os.path.realpath(path)
    except OSError:
        pass
    return None


def thread_setter(blas):
    """torch.set_num_threads sets OpenMP's count, but Debian's libtorch (BLAS_INFO=generic) does not
    tell OpenBLAS, whose own pthreads pool would otherwise use every core even under torch's
    '1 thread': set both, separately. Returns (set(omp, blas), has_blas_threads)."""
    openblas = None
    if blas and 'openblas' in os.path.basename(blas):
        import ctypes
        openblas = ctypes.CDLL(blas).openblas_set_num_threads

    def set_threads(omp, nblas):
        torch.set_num_threads(omp)
        if openblas:
            openblas(nblas)
    return set_threads, openblas is not None


def median(a):
    s = sorted(a)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workloads', default='W1,W2,W3,W4')
    ap.add_argument('--threads', default=None, help='thread counts to try, e.g. 1,2 (default: 1 up to the cores)')
    ap.add_argument('--runs', type=int, default=11)
    ap.add_argument('--min-ms', type=float, default=100)
    ap.add_argument('--weights', default=None)
    a = ap.parse_args()
    names = a.workloads.split(',')
    for n in names:
        if n not in WORKLOADS:
            ap.error(f"unknown workload '{n}' (have {', '.join(WORKLOADS)})")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    counts = [int(t) for t in a.threads.split(',')] if a.threads else list(range(1, cores + 1))
    torch.set_num_interop_threads(1)
    blas = blas_library()
    set_threads, blas_threads = thread_setter(blas)
    # configurations (OpenMP threads, OpenBLAS threads): with OpenBLAS every pair, since
    # which pool should get the cores depends on the shapes; else OpenMP's count only
    configs = [(o, b) for o in counts for b in counts] if blas_threads else [(t, 1) for t in counts]
    if (1, 1) not in configs:
        configs.insert(0, (1, 1))
    results = []
    for name in names:
        set_threads(1, 1)
        step = setup(name, a.weights)
        # the losses of the first two steps, from the starting weights: the correctness check
        loss0 = step()
        loss1 = step()
        cases = []
        for omp, nb in configs:
            set_threads(omp, nb)
            for _ in range(2):
                step()  # warm-up in this configuration
            t0 = time.perf_counter()
            step()
            once = (time.perf_counter() - t0) * 1000
            cases.append(dict(omp=omp, blas=nb, reps=max(1, int(a.min_ms / max(once, 1e-3) + 0.5)), samples=[]))
        for _ in range(a.runs):
            for c in cases:
                set_threads(c['omp'], c['blas'])
                t0 = time.perf_counter()
                for _ in range(c['reps']):
                    step()
                c['samples'].append((time.perf_counter() - t0) * 1000 / c['reps'])
        for c in cases:
            results.append(dict(workload=name, threads=max(c['omp'], c['blas']), ompThreads=c['omp'],
                                blasThreads=c['blas'] if blas_threads else None, msPerStep=median(c['samples']),
                                bestMsPerStep=min(c['samples']), samples=len(c['samples']), loss0=loss0, loss1=loss1))
            r = results[-1]
            print(f"  pytorch {name} omp {c['omp']} blas {c['blas']}: {r['msPerStep']:.2f} ms/step median, "
                  f"{r['bestMsPerStep']:.2f} best", file=sys.stderr)
    cpu = 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    print(json.dumps(dict(torch=torch.__version__, blas=blas, ompWaitPolicy=os.environ.get('OMP_WAIT_POLICY'), cpu=cpu,
                          cores=cores, date=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                          configs=configs, results=results)))


if __name__ == '__main__':
    main()
