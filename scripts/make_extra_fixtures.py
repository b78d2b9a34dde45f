#!/usr/bin/python3
"""Extra PyTorch reference cases for bptt-wasm's tests, beyond the shared fixtures.

Shapes the shared set does not cover: sizes that are not multiples of 4 (down to H = 1),
long sequences (T = 64, 120, 150), deep stacks (3-5 layers), B = 1, T = 1, B = 33 (split
unevenly across threads), no-bias LSTM/GRU, many-to-one MSE, and
optimizer options the shared set does not use (SGD with dampening and weight decay,
Adam with amsgrad, centered RMSprop with momentum, Adagrad with lr decay).

Same JSON schema as ../../shared/fixtures/torch (see its README), computed by PyTorch in
float64 on float32-representable weights and inputs. Needs Debian's python3-torch:
    /usr/bin/python3 scripts/make_extra_fixtures.py test/fixtures
"""
import json, os, sys
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)


def as_f32(t):
    return t.float().double()


def tensor_json(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def make_net(cfg, seed, identity):
    torch.manual_seed(seed)
    kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cfg["cell"]]
    kw = {"nonlinearity": cfg["nonlinearity"]} if cfg["cell"] == "rnn" else {}
    rnn = kind(cfg["input_size"], cfg["hidden_size"], cfg["num_layers"], bias=cfg["bias"], **kw)
    out = nn.Linear(cfg["hidden_size"], cfg["output_size"])
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if identity and name.startswith("weight_hh"):
                p.copy_(torch.eye(cfg["hidden_size"]))
            p.copy_(as_f32(p))
        for p in out.parameters():
            p.copy_(as_f32(p))
    return rnn, out


def unrolled(cfg, rnn, out, x, h0, c0, clip=None):
    """The recurrence written out step by step, so every h_t is a node with a gradient."""
    P = dict(rnn.named_parameters())
    H = cfg["hidden_size"]
    hs = list(h0)
    cs = list(c0) if c0 is not None else None
    nodes = [[] for _ in range(cfg["num_layers"])]
    ys = []
    for t in range(x.shape[0]):
        inp = x[t]
        for l in range(cfg["num_layers"]):
            a_i = inp @ P[f"weight_ih_l{l}"].T
            a_h = hs[l] @ P[f"weight_hh_l{l}"].T
            if cfg["bias"]:
                a_i = a_i + P[f"bias_ih_l{l}"]
                a_h = a_h + P[f"bias_hh_l{l}"]
            if cfg["cell"] == "rnn":
                a = a_i + a_h
                h = torch.tanh(a) if cfg["nonlinearity"] == "tanh" else torch.relu(a)
            elif cfg["cell"] == "lstm":
                i, f, g, o = (a_i + a_h).split(H, dim=1)
                c = torch.sigmoid(f) * cs[l] + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                cs[l] = c
            else:
                ir, iz, inn = a_i.split(H, dim=1)
                hr, hz, hn = a_h.split(H, dim=1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                h = (1 - z) * torch.tanh(inn + r * hn) + z * hs[l]
            if clip is not None:
                h.register_hook(lambda g, th=clip: g * torch.clamp(th / g.norm(dim=1, keepdim=True), max=1.0))
            h.retain_grad()
            nodes[l].append(h)
            hs[l] = h
            inp = h
        ys.append(out(inp))
    return torch.stack(ys), nodes, torch.stack(hs), (torch.stack(cs) if cs is not None else None)


def loss_of(spec, y, target):
    if spec["last_step_only"]:
        y, target = y[-1:], target[-1:]
    if spec["kind"] == "mse":
        return nn.functional.mse_loss(y, target, reduction=spec["reduction"])
    return nn.functional.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1), reduction=spec["reduction"])


def grads_json(rnn, out):
    return {**{f"rnn.{k}": tensor_json(p.grad) for k, p in rnn.named_parameters()},
            **{f"out.{k}": tensor_json(p.grad) for k, p in out.named_parameters()}}


def params_json(rnn, out):
    return {**{f"rnn.{k}": tensor_json(v) for k, v in rnn.state_dict().items()},
            **{f"out.{k}": tensor_json(v) for k, v in out.state_dict().items()}}


def case(name, cfg, spec, T, B, seed, identity=False, h0=False, clip_norm=None, clip_value=None, hidden_clip=None, train=None):
    rnn, out = make_net(cfg, seed, identity)
    gen = torch.Generator().manual_seed(seed * 7 + 3)
    I, H, L, O = cfg["input_size"], cfg["hidden_size"], cfg["num_layers"], cfg["output_size"]
    lstm = cfg["cell"] == "lstm"
    x = as_f32(torch.randn(T, B, I, generator=gen))
    h_0 = as_f32(0.5 * torch.randn(L, B, H, generator=gen)) if h0 else torch.zeros(L, B, H)
    c_0 = (as_f32(0.5 * torch.randn(L, B, H, generator=gen)) if h0 else torch.zeros(L, B, H)) if lstm else None
    target = as_f32(torch.randn(T, B, O, generator=gen)) if spec["kind"] == "mse" else torch.randint(0, O, (T, B), generator=gen)
    res = {"name": name, "config": cfg, "loss": spec, "seed": seed, "init": "identity" if identity else "default", "T": T, "B": B,
           "layout": "time-major [T, B, features]", "params": params_json(rnn, out), "x": tensor_json(x),
           "h0": tensor_json(h_0) if h0 else None, "c0": tensor_json(c_0) if (h0 and lstm) else None,
           "target": tensor_json(target) if spec["kind"] == "mse" else {"shape": [T, B], "data": [int(v) for v in target.reshape(-1)]}}
    with torch.no_grad():  # cross-check the unrolled loop against the nn module itself
        seq, _ = rnn(x, (h_0, c_0) if lstm else h_0)
        y_module = out(seq)
    xg, h0g = x.clone().requires_grad_(), h_0.clone().requires_grad_()
    c0g = c_0.clone().requires_grad_() if lstm else None
    y, nodes, hn, cn = unrolled(cfg, rnn, out, xg, h0g, c0g)
    assert torch.allclose(y, y_module, atol=1e-10)
    lv = loss_of(spec, y, target)
    lv.backward()
    params = list(rnn.parameters()) + list(out.parameters())
    res.update({"output": tensor_json(y), "h_n": tensor_json(hn), "c_n": tensor_json(cn) if lstm else None,
                "loss_value": float(lv), "grads": grads_json(rnn, out),
                "grad_norm": float(torch.sqrt(sum((p.grad ** 2).sum() for p in params))),
                "d_x": tensor_json(xg.grad), "d_h0": tensor_json(h0g.grad), "d_c0": tensor_json(c0g.grad) if lstm else None,
                "hidden_grad_norms": [[float(h.grad.norm()) for h in layer] for layer in nodes]})
    saved = [p.grad.clone() for p in params]
    if clip_norm is not None:
        total = nn.utils.clip_grad_norm_(params, clip_norm)
        res["clip_grad_norm"] = {"max_norm": clip_norm, "total_norm": float(total), "grads": grads_json(rnn, out)}
        for p, g in zip(params, saved):
            p.grad = g.clone()
    if clip_value is not None:
        nn.utils.clip_grad_value_(params, clip_value)
        res["clip_grad_value"] = {"clip_value": clip_value, "grads": grads_json(rnn, out)}
    if hidden_clip is not None:
        for p in params:
            p.grad = None
        y2, _, _, _ = unrolled(cfg, rnn, out, x, h_0, c_0, clip=hidden_clip)
        loss_of(spec, y2, target).backward()
        res["hidden_clip"] = {"threshold": hidden_clip, "scope": "per sequence, L2 over hidden units, every layer and timestep",
                              "grads": grads_json(rnn, out)}
    if train is not None:
        rnn2, out2 = make_net(cfg, seed, identity)
        ps = list(rnn2.parameters()) + list(out2.parameters())
        opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
               "adagrad": torch.optim.Adagrad}[train["optimizer"]](ps, **train["options"])
        losses = []
        for _ in range(train["steps"]):
            opt.zero_grad()
            l3 = loss_of(spec, unrolled(cfg, rnn2, out2, x, h_0, c_0)[0], target)
            l3.backward()
            if train.get("clip_norm") is not None:
                nn.utils.clip_grad_norm_(ps, train["clip_norm"])
            opt.step()
            losses.append(float(l3))
        res["train"] = {**train, "losses_before_each_step": losses, "final_params": params_json(rnn2, out2)}
    res["generator"] = f"PyTorch {torch.__version__}, float64, bptt-wasm scripts/make_extra_fixtures.py"
    return res


def cfg(cell, I, H, O, L=1, nl="tanh", bias=True):
    c = {"cell": cell, "input_size": I, "hidden_size": H, "output_size": O, "num_layers": L, "bias": bias}
    if cell == "rnn":
        c["nonlinearity"] = nl
    return c


def spec(kind, reduction, last=False):
    return {"kind": kind, "reduction": reduction, "last_step_only": last}


CASES = [
    lambda: case("extra_rnn_relu_3layer_T1_B1", cfg("rnn", 5, 7, 3, L=3, nl="relu"), spec("mse", "sum"), T=1, B=1, seed=21, h0=True,
                 clip_norm=0.3, train={"optimizer": "sgd", "options": {"lr": 0.05, "momentum": 0.5, "dampening": 0.1, "weight_decay": 0.01}, "steps": 3, "clip_norm": None}),
    lambda: case("extra_lstm_nobias_T40_B1_H13", cfg("lstm", 3, 13, 5, bias=False), spec("cross_entropy", "sum"), T=40, B=1, seed=22,
                 hidden_clip=0.02, clip_value=0.01, train={"optimizer": "adam", "options": {"lr": 0.005, "amsgrad": True, "weight_decay": 0.01}, "steps": 4, "clip_norm": 2.0}),
    lambda: case("extra_gru_nobias_3layer_T7_B5", cfg("gru", 9, 11, 1, L=3, bias=False), spec("mse", "mean", last=True), T=7, B=5, seed=23, h0=True,
                 clip_norm=0.1, train={"optimizer": "rmsprop", "options": {"lr": 0.003, "momentum": 0.9, "centered": True, "weight_decay": 0.001}, "steps": 4, "clip_norm": None}),
    lambda: case("extra_rnn_tanh_T64_B3_H10", cfg("rnn", 2, 10, 2), spec("mse", "sum"), T=64, B=3, seed=24,
                 hidden_clip=0.5, train={"optimizer": "adagrad", "options": {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1}, "steps": 4, "clip_norm": 1.0}),
    lambda: case("extra_lstm_4layer_h0_T9_B2_H3", cfg("lstm", 1, 3, 7, L=4), spec("cross_entropy", "mean", last=True), T=9, B=2, seed=25, h0=True,
                 clip_norm=0.05, train={"optimizer": "adamw", "options": {"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6}, "steps": 3, "clip_norm": None}),
    lambda: case("extra_gru_T1_B7_I17", cfg("gru", 17, 5, 9), spec("cross_entropy", "sum"), T=1, B=7, seed=26, clip_value=0.02),
    lambda: case("extra_lstm_3layer_T150_B2_H7", cfg("lstm", 5, 7, 3, L=3), spec("mse", "mean"), T=150, B=2, seed=31, h0=True, clip_norm=0.5,
                 hidden_clip=0.01, train={"optimizer": "adam", "options": {"lr": 0.01}, "steps": 3, "clip_norm": 1.0}),
    lambda: case("extra_gru_5layer_T20_B3_H6", cfg("gru", 2, 6, 4, L=5), spec("cross_entropy", "sum"), T=20, B=3, seed=32, h0=True, clip_value=0.01),
    lambda: case("extra_rnn_relu_T120_B1_H11", cfg("rnn", 3, 11, 2, nl="relu"), spec("mse", "sum", last=True), T=120, B=1, seed=33, identity=True,
                 hidden_clip=0.1),
    lambda: case("extra_lstm_T1_B1_H1", cfg("lstm", 1, 1, 1), spec("mse", "sum"), T=1, B=1, seed=34, clip_norm=0.1),
    lambda: case("extra_gru_T9_B33_H65", cfg("gru", 13, 65, 17), spec("cross_entropy", "mean"), T=9, B=33, seed=35,
                 train={"optimizer": "rmsprop", "options": {"lr": 0.001}, "steps": 2, "clip_norm": None}),
    lambda: case("extra_irnn_T30_B4_H9", cfg("rnn", 2, 9, 1, nl="relu"), spec("mse", "mean", last=True), T=30, B=4, seed=27, identity=True,
                 train={"optimizer": "sgd", "options": {"lr": 0.01, "momentum": 0.9, "nesterov": True}, "steps": 5, "clip_norm": 1.0}),
]


if __name__ == "__main__":
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for make in CASES:
        c = make()
        with open(os.path.join(out_dir, c["name"] + ".json"), "w") as fh:
            json.dump(c, fh, separators=(",", ":"))
        print(c["name"], round(c["loss_value"], 6), round(c["grad_norm"], 6))
