// Imaging forward models: the Gaussian blur as two direct 1D passes in
// TypeScript against the FFTW path (the addon's spectralFilter on a
// reflect-padded frame), per kernel size, and the cost of each model per
// image. It decided GaussianBlur's method 'auto' (FFTW).
//
//   npm run bench:imaging -- [--batch 512] [--repeats 5] [--out FILE]
import { parseArgs } from 'node:util';

import { GaussianBlur, Inpainting, PhaseRetrieval, randomNormal, SuperResolution } from '../lib';
import type { ImagingOperator } from '../lib';
import { run, writeResults } from './common';

async function median(repeats: number, work: () => Promise<unknown>): Promise<number> {
  await work();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(repeats / 2)];
}

run(async () => {
  const { values } = parseArgs({ options: { batch: { type: 'string', default: '512' }, repeats: { type: 'string', default: '5' }, out: { type: 'string' } } });
  const batch = Number(values.batch), repeats = Number(values.repeats);
  const x = await randomNormal({ count: 1024, streams: batch, seed: 1, backend: 'cpu' });
  console.log(`32x32 images, batch ${batch}, median of ${repeats} (ms per batch)\n`);
  console.log('| blur kernel | std | direct (TS) ms | FFTW ms | direct / FFTW |');
  console.log('|---|---|---|---|---|');
  const blur: Array<Record<string, number>> = [];
  for (const [kernelSize, std] of [[3, 0.5], [5, 0.75], [7, 0.375], [15, 1], [31, 2], [41, 2.5], [61, 3]]) {
    const direct = await median(repeats, () => new GaussianBlur({ kernelSize, std, method: 'direct' }).forward(x, batch));
    const fftModel = new GaussianBlur({ kernelSize, std, method: 'fft' });
    const fft = await median(repeats, () => fftModel.forward(x, batch));
    blur.push({ kernelSize, std, directMs: direct, fftMs: fft, ratio: direct / fft });
    console.log(`| ${kernelSize} | ${std} | ${direct.toFixed(1)} | ${fft.toFixed(1)} | ${(direct / fft).toFixed(2)} |`);
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
  writeResults('imaging', values.out, { batch, repeats, blur, forward });
});
