"""A stand-in LPIPS network for test/imaging-metrics.test.ts.

Writes test/fixtures/imaging/lpips-weighted-mse.onnx: inputs in0, in1
(float32 [B, 3, H, W], B, H, W dynamic), output distance [B, 1, 1, 1] =
sum over channels c of w_c x mean over pixels of (in0 - in1)^2, with
w = (0.2, 0.3, 0.5). It has LPIPS's interface, not its weights; the test
checks the hook against that closed form.

    /usr/bin/python3 tools/imaging/lpips_fixture.py --out test/fixtures/imaging/lpips-weighted-mse.onnx
"""
import argparse

import torch


class WeightedMse(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer('w', torch.tensor([0.2, 0.3, 0.5]).view(1, 3, 1, 1))

    def forward(self, in0, in1):
        return ((in0 - in1) ** 2 * self.w).mean(dim=(2, 3), keepdim=True).sum(dim=1, keepdim=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    x = torch.zeros(2, 3, 8, 8)
    torch.onnx.export(WeightedMse(), (x, x), args.out, input_names=['in0', 'in1'], output_names=['distance'],
                      dynamic_axes={'in0': {0: 'B', 2: 'H', 3: 'W'}, 'in1': {0: 'B', 2: 'H', 3: 'W'}, 'distance': {0: 'B'}},
                      opset_version=13)


if __name__ == '__main__':
    main()
