// The model card's quality check (models/ns-vorticity-64.md): 64 unconditional
// samples of a prior (40-step Karras grid, seed 1) with Heun's and Euler's
// solvers, against the held-out fields: the ratio of the mean energy per
// wavenumber shell, shells 1 to the dealiasing radius.
//   node -r ts-node/register/transpile-only bench/prior-spectrum.ts [--prior FILE] [--data FILE] [--scale 0.1]
import { parseArgs } from 'node:util';

import { OnnxDenoiser, readNpy, sampleODE, spectrumRatios } from '../lib';
import { NS_HELD_OUT_64, NS_PRIOR_64 } from '../lib/paths';

import { run } from './common';

async function main(): Promise<void> {
  const { values } = parseArgs({
    strict: true,
    options: {
      prior: { type: 'string', default: NS_PRIOR_64 },
      data: { type: 'string', default: NS_HELD_OUT_64 },
      scale: { type: 'string', default: '0.1' },
    },
  });
  const scale = Number(values.scale);
  if (!(scale > 0)) throw new RangeError(`--scale must be a positive number, got ${values.scale}`);
  const prior = await OnnxDenoiser.load(String(values.prior), { executionProviders: ['cpu'] });
  try {
    const resolution = prior.shape[1];
    const data = await readNpy(String(values.data));
    const truth = Float32Array.from(data.data as Float32Array, (w) => w * scale);
    console.log('| sampler | min ratio | max ratio | shells below 1/1.5 | shells above 1.5 |');
    console.log('|---|---|---|---|---|');
    for (const solver of ['heun', 'euler'] as const) {
      const samples = await sampleODE(prior, { count: 64, steps: 40, seed: 1, solver });
      const ratios = await spectrumRatios({ fields: samples, count: 64, reference: truth, referenceCount: data.shape[0], resolution });
      let lo = [Infinity, 0], hi = [-Infinity, 0];
      const low: number[] = [], high: number[] = [];
      for (let s = 1; s <= ratios.length; s++) {
        const ratio = ratios[s - 1];
        if (ratio < lo[0]) lo = [ratio, s];
        if (ratio > hi[0]) hi = [ratio, s];
        if (ratio < 1 / 1.5) low.push(s);
        if (ratio > 1.5) high.push(s);
      }
      console.log(`| ${solver}, 40 steps | ${lo[0].toFixed(2)} (shell ${lo[1]}) | ${hi[0].toFixed(2)} (shell ${hi[1]}) | ${low.join(', ') || '-'} | ${high.join(', ') || '-'} |`);
    }
  } finally {
    await prior.dispose();
  }
}

run(main);
