#!/usr/bin/env python3
"""Writes the tiny ONNX files the jest suite loads (test/fixtures/onnx/):

  tiny-denoiser.onnx   an EDM-preconditioned 3x3 conv + tanh "network" on 1x8x8
                       fields that follows the prior contract (docs/method.md section 1),
                       with metadata; its weights go to tiny-denoiser.json so the
                       test can evaluate the same network in TypeScript.
  missing-sigma.onnx   only the input x
  fixed-batch.onnx     x with a fixed batch of 2
  wrong-rank.onnx      x of rank 3
  float64.onnx         float64 input and output (no conv: ONNX Runtime's CPU
                       provider has no float64 Conv)
  fixed-sigma.onnx     x with a dynamic batch but sigma fixed at 2
  two-channel.onnx     a valid prior on 2x8x8 fields (the Navier-Stokes problem
                       needs one channel)

Run with Debian's python3-torch:  /usr/bin/python3 tools/prior/make_test_fixtures.py
"""
import json
import os

import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_meta import append_metadata  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "onnx")
SIGMA_DATA = 0.5


def precondition(sigma, x, inner):
    s = sigma.reshape(-1, 1, 1, 1)
    c_skip = SIGMA_DATA**2 / (s * s + SIGMA_DATA**2)
    c_out = s * SIGMA_DATA / torch.sqrt(s * s + SIGMA_DATA**2)
    c_in = 1 / torch.sqrt(s * s + SIGMA_DATA**2)
    return c_skip * x + c_out * inner(c_in * x)


class Tiny(torch.nn.Module):
    def __init__(self, dtype=torch.float32):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1).to(dtype)

    def forward(self, x, sigma):
        return precondition(sigma, x, lambda z: torch.tanh(self.conv(z)))


class OnlyX(Tiny):
    def forward(self, x):
        return torch.tanh(self.conv(x))


class NoConv(torch.nn.Module):
    def forward(self, x, sigma):
        return precondition(sigma, x, torch.tanh)


class Rank3(Tiny):
    def forward(self, x, sigma):
        return precondition(sigma, x.unsqueeze(1), lambda z: torch.tanh(self.conv(z))).squeeze(1)


def export(net, args, path, inputs, dynamic=True):
    if dynamic is True:
        dynamic = inputs + ["denoised"]
    axes = {name: {0: "B"} for name in dynamic} if dynamic else None
    torch.onnx.export(net, args, path, input_names=inputs, output_names=["denoised"], dynamic_axes=axes, opset_version=17)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(7)
    net = Tiny()
    x, sigma = torch.randn(2, 1, 8, 8), torch.rand(2) + 0.1
    path = os.path.join(OUT, "tiny-denoiser.onnx")
    export(net, (x, sigma), path, ["x", "sigma"])
    append_metadata(path, {"sigma_min": "0.002", "sigma_max": "80", "sigma_data": str(SIGMA_DATA),
                        "dataset": "none (test fixture)", "normalization": "identity", "resolution": "8"})
    with open(os.path.join(OUT, "tiny-denoiser.json"), "w") as f:
        json.dump({"weight": net.conv.weight.detach().reshape(-1).tolist(), "bias": float(net.conv.bias.item()),
                   "sigma_data": SIGMA_DATA}, f)
    export(OnlyX(), (x,), os.path.join(OUT, "missing-sigma.onnx"), ["x"])
    export(net, (x, sigma), os.path.join(OUT, "fixed-batch.onnx"), ["x", "sigma"], dynamic=False)
    export(Rank3(), (x[:, 0], sigma), os.path.join(OUT, "wrong-rank.onnx"), ["x", "sigma"])
    export(NoConv(), (x.double(), sigma.double()), os.path.join(OUT, "float64.onnx"), ["x", "sigma"])
    export(net, (x, sigma), os.path.join(OUT, "fixed-sigma.onnx"), ["x", "sigma"], dynamic=["x", "denoised"])
    export(NoConv(), (torch.randn(2, 2, 8, 8), sigma), os.path.join(OUT, "two-channel.onnx"), ["x", "sigma"])
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
