"""Reference values of PyTorch's bicubic down-sampling for test/imaging.test.ts.

Writes test/fixtures/imaging/bicubic.json: a fixed input (seeded normal
draws, float32, shape [1, 2, 8, 12]) and
torch.nn.functional.interpolate(x, scale_factor=1/f, mode='bicubic',
align_corners=False, antialias=False) for f = 2 and 4, plus the shipped
prior's shape [1, 1, 32, 32] with f = 4.

    /usr/bin/python3 tools/imaging/bicubic_fixture.py --out test/fixtures/imaging/bicubic.json
"""
import argparse
import json

import torch
import torch.nn.functional as F


def case(shape, factor, generator):
    x = torch.randn(*shape, generator=generator, dtype=torch.float32)
    y = F.interpolate(x, scale_factor=1.0 / factor, mode='bicubic', align_corners=False, antialias=False)
    return {
        'shape': list(shape[1:]),
        'factor': factor,
        'input': [float(v) for v in x.flatten()],
        'output': [float(v) for v in y.flatten()],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(17)
    cases = [case((1, 2, 8, 12), 2, generator), case((1, 2, 8, 12), 4, generator), case((1, 1, 32, 32), 4, generator)]
    with open(args.out, 'w') as f:
        json.dump({
            'torch': torch.__version__,
            'command': '/usr/bin/python3 tools/imaging/bicubic_fixture.py --out test/fixtures/imaging/bicubic.json',
            'cases': cases,
        }, f)
        f.write('\n')


if __name__ == '__main__':
    main()
