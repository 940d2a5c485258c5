// Imaging forward models, each native path against its TypeScript one in
// the same run (the two alternate, one warm-up call each, medians):
//   - the Gaussian blur as two direct 1D passes in TypeScript against FFTW
//     (the addon's spectralFilter on a reflect-padded frame), per kernel
//     size; it decided GaussianBlur's method 'auto' (FFTW);
//   - phase retrieval's |F(zero-pad(x))| and its gradient, the DFT as
//     matrix passes in TypeScript against FFTW (the addon's
//     paddedDftMagnitude and paddedDftMagnitudeAdjoint), at ensemble-sized
//     batches; it decided PhaseRetrieval's method 'auto' (FFTW);
// and the cost of each model's forward map at its defaults.
//
//   npm run bench:imaging -- [--batch 512] [--repeats 5] [--phase-batches 512,2048] [--phase-repeats 5] [--out FILE]
import { parseArgs } from 'node:util';

import { GaussianBlur, Inpainting, PhaseRetrieval, randomNormal, SuperResolution } from '../lib';
import type { ImagingOperator } from '../lib';
import { run, writeResults } from './common';

function medianOf(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Median ms of each of two works, after one warm-up each, run in turn `repeats` times. */
async function alternate(repeats: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number, number]> {
  await a();
  await b();
  const ta: number[] = [], tb: number[] = [];
  for (let r = 0; r < repeats; r++) {
    for (const [work, times] of [[a, ta], [b, tb]] as const) {
      const t = performance.now();
      await work();
      times.push(performance.now() - t);
    }
  }
  return [medianOf(ta), medianOf(tb)];
}

async function median(repeats: number, work: () => Promise<unknown>): Promise<number> {
  await work();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  return medianOf(times);
}

run(async () => {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '512' }, repeats: { type: 'string', default: '5' },
      'phase-batches': { type: 'string', default: '512,2048' }, 'phase-repeats': { type: 'string', default: '5' },
      out: { type: 'string' },
    },
  });
  const batch = Number(values.batch), repeats = Number(values.repeats);
  const phaseBatches = values['phase-batches'].split(',').map(Number), phaseRepeats = Number(values['phase-repeats']);
  const largest = Math.max(batch, ...phaseBatches);
  const all = await randomNormal({ count: 1024, streams: largest, seed: 1, backend: 'cpu' });
  const x = all.subarray(0, batch * 1024);
  console.log(`32x32 images, batch ${batch}, median of ${repeats} (ms per batch)\n`);
  console.log('| blur kernel | std | direct (TS) ms | FFTW ms | direct / FFTW |');
  console.log('|---|---|---|---|---|');
  const blur: Array<Record<string, number>> = [];
  for (const [kernelSize, std] of [[3, 0.5], [5, 0.75], [7, 0.375], [15, 1], [31, 2], [41, 2.5], [61, 3]]) {
    const directModel = new GaussianBlur({ kernelSize, std, method: 'direct' });
    const fftModel = new GaussianBlur({ kernelSize, std, method: 'fft' });
    const [direct, fft] = await alternate(repeats, () => directModel.forward(x, batch), () => fftModel.forward(x, batch));
    blur.push({ kernelSize, std, directMs: direct, fftMs: fft, ratio: direct / fft });
    console.log(`| ${kernelSize} | ${std} | ${direct.toFixed(1)} | ${fft.toFixed(1)} | ${(direct / fft).toFixed(2)} |`);
  }

  console.log(`\nPhase retrieval of 32x32 images (oversample 2: 64 x 64 spectra), median of ${phaseRepeats} (ms per batch)\n`);
  console.log('| batch | map | direct (TS) ms | FFTW ms | direct / FFTW |');
  console.log('|---|---|---|---|---|');
  const phase: Array<Record<string, number | string>> = [];
  const direct = new PhaseRetrieval({ method: 'direct' }), fftw = new PhaseRetrieval({ method: 'fftw' });
  for (const B of phaseBatches) {
    const xb = all.subarray(0, B * 1024);
    const residuals = await randomNormal({ count: direct.measurementSize, streams: B, seed: 2, backend: 'cpu' });
    const maps: Array<[string, (model: PhaseRetrieval) => Promise<unknown>]> = [
      ['forward', (model) => model.forward(xb, B)],
      ['misfitGradient', (model) => model.misfitGradient(xb, residuals, B)],
    ];
    for (const [map, call] of maps) {
      const [ts, native] = await alternate(phaseRepeats, () => call(direct), () => call(fftw));
      phase.push({ batch: B, map, directMs: ts, fftwMs: native, ratio: ts / native });
      console.log(`| ${B} | ${map} | ${ts.toFixed(1)} | ${native.toFixed(1)} | ${(ts / native).toFixed(1)} |`);
    }
  }

  console.log('\n| model (defaults) | m | forward ms | per image ms |');
  console.log('|---|---|---|---|');
  const models: Array<[string, ImagingOperator]> = [
    ['Inpainting', new Inpainting()], ['SuperResolution', new SuperResolution()],
    ['GaussianBlur', new GaussianBlur()], ['PhaseRetrieval', new PhaseRetrieval()],
  ];
  const forward: Array<Record<string, unknown>> = [];
  for (const [name, model] of models) {
    const ms = await median(repeats, () => model.forward(x, batch));
    forward.push({ name, measurementSize: model.measurementSize, ms, perImageMs: ms / batch });
    console.log(`| ${name} | ${model.measurementSize} | ${ms.toFixed(1)} | ${(ms / batch).toFixed(3)} |`);
  }
  writeResults('imaging', values.out, { batch, repeats, blur, phaseBatches, phaseRepeats, phase, forward });
});
