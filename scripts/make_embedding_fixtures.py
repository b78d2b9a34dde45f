#!/usr/bin/python3
"""PyTorch float64 references for token inputs: nn.Embedding before the recurrent stack.

The model is
    class Net(nn.Module):
        embed = nn.Embedding(N, E, padding_idx=...)   # `embed.weight` [N, E]
        rnn = nn.RNN | nn.LSTM | nn.GRU(E, H, L, bias, bidirectional, batch_first)
        out = nn.Linear(D * H, O)
        forward(ids, lengths, hx): rnn(pack_padded_sequence(embed(ids), lengths)) -> out
Same JSON format as test/fixtures/torch-seq/ (see ../shared/fixtures/torch-seq/README.md:
h0/h_n rows l*D + d, padding rules, masked losses, `train` trajectories), with:
  config.embedding  {num_embeddings, embedding_dim, padding_idx (or null)}; input_size = E
  config.batch_first  true: x [B, T], output [B, T, O], target [B, T(, O)] (states stay [L*D, B, H])
  x  integer token ids; steps t >= lengths[b] hold -1, which is not an id: a library that
     reads them fails (PyTorch never sees them: it ran on random valid ids there)
  grads['embed.weight']  the scatter-add of d(embedded x) into the rows, repeated ids summed
  d_x  absent (ids have no gradient)
Weights and ids are float32-representable; everything is computed in float64.
A few cases are also exported with torch.onnx.export (Embedding -> Gather) as <case>.onnx:
inputs ids int64 [T, B] (or [B, T]) and, for an initial state, h0 (c0); output y.
Usage: /usr/bin/python3 scripts/make_embedding_fixtures.py test/fixtures/embedding
"""
import json, os, sys
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.set_default_dtype(torch.float64)


def f32(t):
    return t.to(torch.float32).to(torch.float64)


def tens(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def ints(t):
    return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()]}


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["embedding"]
        self.embed = nn.Embedding(e["num_embeddings"], e["embedding_dim"], padding_idx=e["padding_idx"])
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[c["cell"]]
        kw = {"nonlinearity": c["nonlinearity"]} if c["cell"] == "rnn" else {}
        self.rnn = kind(e["embedding_dim"], c["hidden_size"], c["num_layers"], bias=c["bias"],
                        bidirectional=c["bidirectional"], batch_first=c["batch_first"], **kw)
        D = 2 if c["bidirectional"] else 1
        self.out = nn.Linear(D * c["hidden_size"], c["output_size"])
        self.lstm = c["cell"] == "lstm"
        self.bf = c["batch_first"]

    def forward(self, ids, lengths=None, h0=None, c0=None):
        x = self.embed(ids)
        hx = None if h0 is None else ((h0, c0) if self.lstm else h0)
        if lengths is None:
            seq, st = self.rnn(x, hx)
        else:
            T = ids.shape[1] if self.bf else ids.shape[0]
            packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=self.bf, enforce_sorted=False)
            seq, st = self.rnn(packed, hx)
            seq, _ = pad_packed_sequence(seq, batch_first=self.bf, total_length=T)
        h_n, c_n = st if self.lstm else (st, None)
        return self.out(seq), h_n, c_n


class OnnxNet(nn.Module):
    """What torch.onnx.export sees: ids (and states) in, y out."""

    def __init__(self, net, with_state):
        super().__init__()
        self.net, self.with_state = net, with_state

    def forward(self, ids, h0=None, c0=None):
        return self.net(ids, None, h0, c0)[0]


def mask_of(T, B, lengths):
    m = torch.ones(T, B)
    if lengths is not None:
        for b, n in enumerate(lengths):
            m[n:, b] = 0
    return m


def loss_of(spec, y, target, lengths, bf):
    """The masked loss of the torch-seq README (rules 4 and 5), time-major inside."""
    if bf:
        y = y.transpose(0, 1)
        target = target.transpose(0, 1)
    T, B = y.shape[0], y.shape[1]
    m = mask_of(T, B, lengths)
    lens = lengths if lengths is not None else [T] * B
    if spec["last_step_only"]:
        yl = torch.stack([y[lens[b] - 1, b] for b in range(B)])
        tl = torch.stack([target[lens[b] - 1, b] for b in range(B)])
        if spec["kind"] == "mse":
            return nn.functional.mse_loss(yl, tl, reduction=spec["reduction"])
        return nn.functional.cross_entropy(yl, tl, reduction=spec["reduction"])
    if spec["kind"] == "mse":
        s = ((y - target) ** 2 * m[:, :, None]).sum()
        return s / (m.sum() * y.shape[2]) if spec["reduction"] == "mean" else s
    O = y.shape[-1]
    t = torch.where(m > 0, target, torch.full_like(target, -100))
    return nn.functional.cross_entropy(y.reshape(-1, O), t.reshape(-1), reduction=spec["reduction"], ignore_index=-100)


def make_case(name, c, loss, T, B, seed, lengths=None, h0=False, train=None, onnx=False, out_dir=None):
    torch.manual_seed(seed)
    net = Net(c)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(f32(p))
    g = torch.Generator().manual_seed(seed + 1000)
    N = c["embedding"]["num_embeddings"]
    H, L, O = c["hidden_size"], c["num_layers"], c["output_size"]
    D = 2 if c["bidirectional"] else 1
    bf = c["batch_first"]
    ids_tm = torch.randint(0, N, (T, B), generator=g)
    # repeated ids on purpose: the first id of every sequence is the same token
    ids_tm[0, :] = ids_tm[0, 0]
    if c["embedding"]["padding_idx"] is not None:
        ids_tm[1, 0] = c["embedding"]["padding_idx"]  # a padding_idx token at a valid step
    tshape = (T, B)
    if loss["kind"] == "mse":
        target_tm = f32(torch.randn(*tshape, O, generator=g))
    else:
        target_tm = torch.randint(0, O, tshape, generator=g)
    s0 = f32(torch.randn(L * D, B, H, generator=g)) if h0 else None
    cs0 = f32(torch.randn(L * D, B, H, generator=g)) if h0 and c["cell"] == "lstm" else None
    ids = ids_tm.t().contiguous() if bf else ids_tm
    target = target_tm.transpose(0, 1).contiguous() if bf else target_tm

    def run():
        h = s0.clone().requires_grad_(True) if s0 is not None else torch.zeros(L * D, B, H, requires_grad=True)
        cc = None
        if c["cell"] == "lstm":
            cc = cs0.clone().requires_grad_(True) if cs0 is not None else torch.zeros(L * D, B, H, requires_grad=True)
        y, h_n, c_n = net(ids, lengths, h, cc)
        lv = loss_of(loss, y, target, lengths, bf)
        return y, h_n, c_n, lv, h, cc

    net.zero_grad()
    y, h_n, c_n, lv, hh, cc = run()
    lv.backward()
    params = {k: tens(v) for k, v in net.state_dict().items()}
    grads = {k: tens(p.grad) for k, p in net.named_parameters()}
    grad_norm = float(torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters())))
    # the ids as the library gets them: -1 where PyTorch never looked
    x_tm = ids_tm.clone()
    m = mask_of(T, B, lengths)
    x_tm[m == 0] = -1
    x = x_tm.t().contiguous() if bf else x_tm
    case = {"name": name, "config": c, "loss": loss, "seed": seed, "T": T, "B": B,
            "layout": "batch-first [B, T, features]" if bf else "time-major [T, B, features]",
            "lengths": lengths, "params": params, "x": ints(x),
            "h0": tens(s0) if s0 is not None else None, "c0": tens(cs0) if cs0 is not None else None,
            "target": tens(target) if loss["kind"] == "mse" else ints(target),
            "output": tens(y), "h_n": tens(h_n), "c_n": tens(c_n) if c_n is not None else None,
            "loss_value": float(lv), "grads": grads, "grad_norm": grad_norm,
            "d_h0": tens(hh.grad), "d_c0": tens(cc.grad) if cc is not None else None}
    if train is not None:
        opt_kind, opts, steps, clip = train
        opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[opt_kind](net.parameters(), **opts)
        losses, norms = [], []
        for _ in range(steps):
            opt.zero_grad()
            lv2 = run()[3]
            lv2.backward()
            losses.append(float(lv2))
            norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), clip)))
            opt.step()
        case["train"] = {"optimizer": opt_kind, "options": opts, "steps": steps, "clip_norm": clip,
                         "losses_before_each_step": losses, "grad_norm_before_clip_each_step": norms,
                         "final_params": {k: tens(v) for k, v in net.state_dict().items()}}
    case["generator"] = f"PyTorch {torch.__version__}, float64 reference on float32-representable inputs"
    if onnx:
        # exported with the initial weights (the ones in `params`), in float32
        net32 = Net(c).float().eval()
        net32.load_state_dict({k: torch.tensor(v["data"], dtype=torch.float32).reshape(v["shape"]) for k, v in params.items()})
        wrap = OnnxNet(net32, h0).eval()
        args = (ids,)
        names = ["ids"]
        tb = {0: "B", 1: "T"} if bf else {0: "T", 1: "B"}
        dyn = {"ids": tb, "y": tb}
        if h0:
            args = args + (s0.float(),)
            names.append("h0")
            dyn["h0"] = {1: "B"}
            if c["cell"] == "lstm":
                args = args + (cs0.float(),)
                names.append("c0")
                dyn["c0"] = {1: "B"}
        with torch.no_grad():
            y32 = wrap(*args)
        err = float((y32.double() - y).abs().max() / y.abs().max())
        path = os.path.join(out_dir, name + ".onnx")
        torch.onnx.export(wrap, args, path, input_names=names, output_names=["y"], dynamic_axes=dyn, opset_version=14)
        case["onnx"] = {"inputs": names, "float32_forward_rel_err": err}
        print(f"  {name}.onnx: float32 forward vs float64 {err:.1e} relative")
    return case


def cfg(cell, N, E, H, L, O, bias=True, bidirectional=False, batch_first=False, padding_idx=None, nonlinearity="tanh"):
    c = {"cell": cell, "input_size": E, "hidden_size": H, "output_size": O, "num_layers": L, "bias": bias,
         "bidirectional": bidirectional, "batch_first": batch_first,
         "embedding": {"num_embeddings": N, "embedding_dim": E, "padding_idx": padding_idx}}
    if cell == "rnn":
        c["nonlinearity"] = nonlinearity
    return c


def ce(reduction="mean", last=False):
    return {"kind": "cross_entropy", "reduction": reduction, "last_step_only": last}


def mse(reduction="sum", last=False):
    return {"kind": "mse", "reduction": reduction, "last_step_only": last}


ADAM = ("adam", {"lr": 0.01}, 3, 1.0)
SGDM = ("sgd", {"lr": 0.1, "momentum": 0.9}, 3, 0.5)

# name, config, loss, T, B, seed, keyword options
CASES = [
    ("emb_rnn_tanh_ce_mean", cfg("rnn", 11, 5, 6, 1, 11), ce(), 6, 4, 1, {"train": ADAM, "onnx": True}),
    ("emb_rnn_relu_2layer_mse_sum", cfg("rnn", 9, 4, 5, 2, 3, nonlinearity="relu"), mse(), 5, 3, 2, {"train": SGDM}),
    ("emb_lstm_ce_sum", cfg("lstm", 13, 6, 7, 1, 13), ce("sum"), 7, 3, 3, {"train": ADAM, "onnx": True}),
    ("emb_lstm_2layer_h0_ce_mean", cfg("lstm", 10, 3, 5, 2, 10), ce(), 5, 4, 4, {"h0": True, "onnx": True}),
    ("emb_lstm_bi_len_ce_mean", cfg("lstm", 8, 4, 5, 1, 8, bidirectional=True), ce(), 7, 4, 5,
     {"lengths": [7, 3, 5, 1], "train": ADAM}),
    ("emb_gru_ce_mean", cfg("gru", 12, 7, 6, 1, 12), ce(), 6, 5, 6, {"train": SGDM, "onnx": True}),
    ("emb_gru_bi_2layer_mse_mean", cfg("gru", 7, 5, 4, 2, 2, bidirectional=True), mse("mean"), 5, 3, 7, {"onnx": True}),
    ("emb_gru_len_ce_last", cfg("gru", 9, 4, 6, 1, 3), ce("sum", True), 6, 5, 8, {"lengths": [2, 6, 4, 6, 1]}),
    ("emb_lstm_bf_len_ce_sum", cfg("lstm", 10, 5, 4, 2, 10, batch_first=True), ce("sum"), 6, 3, 9,
     {"lengths": [4, 6, 2], "train": ADAM}),
    ("emb_rnn_bf_ce_mean", cfg("rnn", 6, 3, 5, 1, 6, batch_first=True), ce(), 5, 4, 10, {"onnx": True}),
    ("emb_gru_padidx_ce_mean", cfg("gru", 8, 4, 5, 1, 8, padding_idx=0), ce(), 6, 4, 11, {"train": SGDM}),
    ("emb_lstm_nobias_repeat_T1_B1", cfg("lstm", 3, 2, 3, 1, 3, bias=False), ce("sum"), 1, 1, 12, {}),
]

if __name__ == "__main__":
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/embedding"
    os.makedirs(out_dir, exist_ok=True)
    for name, c, loss, T, B, seed, kw in CASES:
        case = make_case(name, c, loss, T, B, seed, out_dir=out_dir, **kw)
        with open(os.path.join(out_dir, name + ".json"), "w") as fh:
            json.dump(case, fh, separators=(",", ":"))
        print(name, round(case["loss_value"], 6))
