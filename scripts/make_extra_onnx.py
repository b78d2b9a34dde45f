#!/usr/bin/python3
"""ONNX exports of our extra reference cases (test/fixtures/extra_*.json), so readOnnx is
exercised on shapes the shared files do not have (no-bias GRU/LSTM, 3-5 layers, H=1, ...).

Each model is PyTorch's module (rnn = nn.RNN/LSTM/GRU, out = nn.Linear) with the case's
float32 weights, exported with torch.onnx.export (TorchScript exporter) with T and B
dynamic, as `forward(x, h0[, c0]) -> (y, h_n[, c_n])`. Needs Debian's python3-torch:
    /usr/bin/python3 scripts/make_extra_onnx.py test/fixtures
"""
import glob, json, os, sys
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, c):
        super().__init__()
        kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[c["cell"]]
        kw = {"nonlinearity": c["nonlinearity"]} if c["cell"] == "rnn" else {}
        self.rnn = kind(c["input_size"], c["hidden_size"], c["num_layers"], bias=c["bias"], **kw)
        self.out = nn.Linear(c["hidden_size"], c["output_size"])
        self.lstm = c["cell"] == "lstm"

    def forward(self, x, h0, c0=None):
        if self.lstm:
            y, (hn, cn) = self.rnn(x, (h0, c0))
            return self.out(y), hn, cn
        y, hn = self.rnn(x, h0)
        return self.out(y), hn


def tensor(d):
    return torch.tensor(d["data"], dtype=torch.float32).reshape(d["shape"])


if __name__ == "__main__":
    folder = sys.argv[1]
    for path in sorted(glob.glob(os.path.join(folder, "extra_*.json"))):
        fx = json.load(open(path))
        c = fx["config"]
        net = Net(c).float().eval()
        net.load_state_dict({k: tensor(v) for k, v in fx["params"].items()})
        L, B, H = c["num_layers"], fx["B"], c["hidden_size"]
        x = tensor(fx["x"])
        h0 = tensor(fx["h0"]) if fx["h0"] else torch.zeros(L, B, H)
        args = (x, h0)
        names_in, names_out = ["x", "h0"], ["y", "h_n"]
        if net.lstm:
            args = (x, h0, tensor(fx["c0"]) if fx["c0"] else torch.zeros(L, B, H))
            names_in.append("c0"); names_out.append("c_n")
        dyn = {"x": {0: "T", 1: "B"}, "y": {0: "T", 1: "B"}, "h0": {1: "B"}, "h_n": {1: "B"}}
        if net.lstm:
            dyn.update({"c0": {1: "B"}, "c_n": {1: "B"}})
        with torch.no_grad():
            y = net(*args)[0]
        err = float((y.double() - tensor(fx["output"]).double()).abs().max())
        out = os.path.join(folder, fx["name"] + ".onnx")
        torch.onnx.export(net, args, out, input_names=names_in, output_names=names_out, dynamic_axes=dyn, opset_version=17)
        print(fx["name"], "float32 forward vs fixture max abs diff", f"{err:.2e}", "->", os.path.basename(out))
