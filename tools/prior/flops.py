#!/usr/bin/env python3
"""Counts the multiply-adds of one denoiser evaluation (per field) of a
train.py run, from the convolution and linear layers (norms and activations
are not counted). Prints parameters and FLOPs (2 per multiply-add).

  /usr/bin/python3 tools/prior/flops.py --run runs/ns64
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edm_unet import build_model  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    args = p.parse_args()
    config = json.load(open(os.path.join(args.run, "config.json")))
    c, h, w = config["shape"]
    model = build_model(config).eval()
    macs = [0]

    def conv_hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        macs[0] += output.numel() * module.in_channels // module.groups * k

    def linear_hook(module, inputs, output):
        macs[0] += output.numel() * module.in_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        model(torch.zeros(1, c, h, w), torch.ones(1))
    if model.gaussian is not None:
        # The Gaussian skip's DFTs: 6 products on each side, H x H x W and H x W x W multiply-adds per channel.
        macs[0] += 6 * c * h * w * (h + w)
    params = sum(q.numel() for q in model.parameters())
    print(json.dumps({"parameters": params, "multiply_adds": macs[0], "flops": 2 * macs[0]}))


if __name__ == "__main__":
    main()
