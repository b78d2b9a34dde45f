#!/usr/bin/python3
"""PyTorch float64 references for the cross-entropy options and a Linear head without bias.

Same JSON format as ../shared/fixtures/torch/make_fixtures.py (module `rnn` =
nn.RNN/LSTM/GRU, `out` = nn.Linear head, time-major x[T, B, I], float32-representable
weights and inputs), plus in `loss`: ignore_index, weight, label_smoothing, and
reduction 'none' (then `losses` holds the per-step or per-sequence losses and every
gradient is of their sum, as losses.sum().backward()); in `config`: head_bias.
Usage: /usr/bin/python3 scripts/make_ce_fixtures.py test/fixtures/ce
"""
import json, os, sys
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)


def f32(t):
    return t.to(torch.float32).to(torch.float64)


def tens(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def ints(t):
    return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()]}


def build(cfg, seed):
    torch.manual_seed(seed)
    I, H, L, O = cfg["input_size"], cfg["hidden_size"], cfg["num_layers"], cfg["output_size"]
    kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cfg["cell"]]
    rnn = kind(I, H, L, bias=cfg["bias"], **({"nonlinearity": cfg["nonlinearity"]} if cfg["cell"] == "rnn" else {}))
    out = nn.Linear(H, O, bias=cfg["head_bias"])
    with torch.no_grad():
        for p in list(rnn.parameters()) + list(out.parameters()):
            p.copy_(f32(p))
    return rnn, out


def loss_of(spec, y, target):
    """The loss as F.cross_entropy / F.mse_loss computes it, on every step or the last one."""
    if spec["last_step_only"]:
        y = y[-1]  # [B, O]; the target is given in its short form [B] / [B, O]
    if spec["kind"] == "mse":
        return nn.functional.mse_loss(y, target, reduction=spec["reduction"])
    O = y.shape[-1]
    w = torch.tensor(spec["weight"]) if spec.get("weight") is not None else None
    l = nn.functional.cross_entropy(y.reshape(-1, O), target.reshape(-1), weight=w, reduction=spec["reduction"],
                                    ignore_index=spec.get("ignore_index", -100),
                                    label_smoothing=spec.get("label_smoothing", 0.0))
    return l.reshape(target.shape) if spec["reduction"] == "none" else l


def make_case(name, cfg, loss, T, B, seed, ignore_frac=0.0):
    rnn, out = build(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1000)
    I, H, L, O = cfg["input_size"], cfg["hidden_size"], cfg["num_layers"], cfg["output_size"]
    lstm = cfg["cell"] == "lstm"
    x = f32(torch.randn(T, B, I, generator=g))
    tshape = (B,) if loss["last_step_only"] else (T, B)
    if loss["kind"] == "mse":
        target = f32(torch.randn(*tshape, O, generator=g))
    else:
        target = torch.randint(0, O, tshape, generator=g)
        if ignore_frac:
            drop = torch.rand(tshape, generator=g) < ignore_frac
            drop.view(-1)[0] = True  # at least one ignored row
            target[drop] = loss.get("ignore_index", -100)
    xg = x.clone().requires_grad_(True)
    h0 = torch.zeros(L, B, H, requires_grad=True)
    c0 = torch.zeros(L, B, H, requires_grad=True) if lstm else None
    seq, st = rnn(xg, (h0, c0) if lstm else h0)
    h_n, c_n = st if lstm else (st, None)
    y = out(seq)
    lval = loss_of(loss, y, target)
    total = lval.sum() if loss["reduction"] == "none" else lval
    total.backward()

    case = {"name": name, "config": cfg, "loss": loss, "seed": seed, "T": T, "B": B,
            "layout": "time-major [T, B, features]"}
    case["params"] = {**{f"rnn.{k}": tens(v) for k, v in rnn.state_dict().items()},
                      **{f"out.{k}": tens(v) for k, v in out.state_dict().items()}}
    case["x"] = tens(x)
    case["h0"] = None
    case["c0"] = None
    case["target"] = tens(target) if loss["kind"] == "mse" else ints(target)
    case["output"] = tens(y)
    case["h_n"] = tens(h_n)
    case["c_n"] = tens(c_n) if lstm else None
    case["loss_value"] = float(total)
    case["losses"] = tens(lval) if loss["reduction"] == "none" else None
    case["grads"] = {**{f"rnn.{k}": tens(p.grad) for k, p in rnn.named_parameters()},
                     **{f"out.{k}": tens(p.grad) for k, p in out.named_parameters()}}
    case["d_x"] = tens(xg.grad)
    case["d_h0"] = tens(h0.grad)
    case["d_c0"] = tens(c0.grad) if lstm else None
    case["generator"] = f"PyTorch {torch.__version__}, float64 reference on float32-representable inputs"
    return case


def cfg(cell, I, H, L, O, bias=True, head_bias=True, nonlinearity="tanh"):
    c = {"cell": cell, "input_size": I, "hidden_size": H, "output_size": O, "num_layers": L, "bias": bias,
         "head_bias": head_bias}
    if cell == "rnn":
        c["nonlinearity"] = nonlinearity
    return c


def ce(reduction="mean", last=False, **kw):
    return {"kind": "cross_entropy", "reduction": reduction, "last_step_only": last, **kw}


W5 = [0.5, 2.0, 1.0, 0.25, 3.0]
W7 = [1.0, 0.5, 2.5, 1.5, 0.75, 4.0, 0.125]

CASES = [
    ("ce_ignore_default_lstm", cfg("lstm", 3, 6, 1, 5), ce(), 6, 4, 1, 0.3),
    ("ce_ignore_valid_class_gru", cfg("gru", 4, 5, 2, 5), ce(ignore_index=0), 5, 3, 2, 0.0),
    ("ce_ignore_sum_rnn", cfg("rnn", 2, 7, 1, 4, nonlinearity="relu"), ce("sum", ignore_index=3), 7, 5, 3, 0.25),
    ("ce_weight_mean_rnn", cfg("rnn", 3, 8, 1, 5), ce(weight=W5), 6, 5, 4),
    ("ce_weight_sum_last_lstm", cfg("lstm", 4, 6, 2, 5), ce("sum", True, weight=W5), 5, 6, 5),
    ("ce_smoothing_gru", cfg("gru", 3, 9, 1, 7), ce(label_smoothing=0.1), 6, 4, 6),
    ("ce_smoothing_sum_last_rnn", cfg("rnn", 5, 6, 1, 4), ce("sum", True, label_smoothing=0.3), 4, 7, 7),
    ("ce_all_options_lstm", cfg("lstm", 3, 10, 2, 7), ce(weight=W7, label_smoothing=0.2, ignore_index=-100), 8, 5, 8, 0.2),
    ("ce_none_lstm", cfg("lstm", 3, 6, 1, 5), ce("none", weight=W5, label_smoothing=0.1), 6, 4, 9, 0.25),
    ("ce_none_last_gru", cfg("gru", 2, 5, 1, 7), ce("none", True, weight=W7, ignore_index=2), 5, 9, 10, 0.3),
    ("mse_none_rnn", cfg("rnn", 3, 6, 1, 3), {"kind": "mse", "reduction": "none", "last_step_only": False}, 5, 4, 11),
    ("mse_none_last_lstm", cfg("lstm", 3, 6, 1, 2), {"kind": "mse", "reduction": "none", "last_step_only": True}, 5, 4, 12),
    ("head_nobias_ce_lstm", cfg("lstm", 3, 6, 2, 5, head_bias=False), ce(), 6, 4, 13),
    ("head_nobias_mse_gru", cfg("gru", 4, 5, 1, 3, head_bias=False),
     {"kind": "mse", "reduction": "sum", "last_step_only": False}, 5, 3, 14),
    ("head_nobias_weight_rnn", cfg("rnn", 3, 6, 1, 4, bias=False, head_bias=False), ce(weight=W5[:4], label_smoothing=0.05), 6, 3, 15),
]

if __name__ == "__main__":
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/ce"
    os.makedirs(out_dir, exist_ok=True)
    for name, c, loss, T, B, seed, *rest in CASES:
        case = make_case(name, c, loss, T, B, seed, *rest)
        with open(os.path.join(out_dir, name + ".json"), "w") as fh:
            json.dump(case, fh, separators=(",", ":"))
        print(name, round(case["loss_value"], 6))
