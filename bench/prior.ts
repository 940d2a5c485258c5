// Benchmark of the shipped priors (npm run bench:prior): denoiser
// evaluations per second against batch size on each execution provider, the
// time of a full 40-step unconditional sample of 64 fields, and, for priors
// with held-out data, the sample spectrum against the data's. Every provider
// after the first that loads is also checked against it: the largest
// difference of one batch's output, relative to the output's largest value.
//
// Options: --models models/ns-vorticity-64.onnx,...  --providers cpu,cuda,webgpu  --repeats 5
//          --batches 1,8,64,256  --no-sample (skip the 64-field sample)  --out FILE
//          --threads 1,2 (the session's intra-op threads, each measured in turn; default the library's)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { OnnxDenoiser, parseExecutionProviders, readNpy, sampleODE, spectrumRatios } from '../lib';
import { run, writeResults } from './common';

const ROOT = path.resolve(__dirname, '..');
/** Held-out fields for a prior, chosen by its metadata, for the spectrum check. */
function heldOutFor(metadata: Record<string, string>): { file: string; scale: number } | undefined {
  if (metadata.normalization === 'vorticity/10' && metadata.resolution === '64') {
    return { file: path.join(ROOT, 'data', 'ns-64-heldout.npy'), scale: 0.1 };
  }
  return undefined;
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1];

async function main(): Promise<void> {
  const { values } = parseArgs({
    strict: true,
    options: {
      models: { type: 'string' }, providers: { type: 'string', default: 'cpu,cuda' },
      repeats: { type: 'string', default: '5' }, batches: { type: 'string', default: '1,8,64,256' }, out: { type: 'string' },
      'no-sample': { type: 'boolean', default: false }, threads: { type: 'string' },
    },
  });
  const modelDir = path.join(ROOT, 'models');
  const models = values.models ? values.models.split(',')
    : fs.existsSync(modelDir) ? fs.readdirSync(modelDir).filter((f) => f.endsWith('.onnx')).map((f) => path.join(modelDir, f)) : [];
  if (models.length === 0) throw new Error('no priors to measure: models/ has no .onnx file; pass --models FILE,...');
  const repeats = Number(values.repeats);
  const batches = String(values.batches).split(',').map(Number);
  const rows: Array<Record<string, unknown>> = [];
  const providers = parseExecutionProviders(String(values.providers), 'cpu', '--providers');
  const threadCounts: Array<number | undefined> = values.threads === undefined ? [undefined] : values.threads.split(',').map((t) => {
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1) throw new Error(`Expected a list of thread counts >= 1 for --threads but received '${values.threads}'`);
    return n;
  });
  for (const model of models) {
    // The first provider's output on a fixed batch, which the others must match.
    let reference: { provider: string; output: Float32Array } | undefined;
    for (const provider of providers) for (const threads of threadCounts) {
      let prior: OnnxDenoiser;
      try {
        prior = await OnnxDenoiser.load(model, { executionProviders: [provider], maxBatch: 4096, ...(threads === undefined ? {} : { threads }) });
      } catch (error) {
        console.log(`${path.basename(model)} on ${provider}: not available (${(error as Error).message.split('\n')[0]})`);
        continue;
      }
      const d = prior.shape[0] * prior.shape[1] * prior.shape[2];
      const threadText = threads === undefined ? '' : `, ${threads} intra-op thread${threads === 1 ? '' : 's'}`;
      console.log(`\n${path.basename(model)} on ${provider}${threadText}, fields ${prior.shape.join('x')}`);
      const probe = new Float32Array(16 * d).map((_, i) => Math.sin(0.37 * i) * 2);
      const output = await prior.denoise(probe, Float32Array.from({ length: 16 }, (_, i) => 0.05 * 1.5 ** i), 16);
      let agreement: number | undefined;
      if (reference === undefined) {
        reference = { provider, output };
      } else {
        let diff = 0, scale = 0;
        for (let i = 0; i < output.length; i++) {
          diff = Math.max(diff, Math.abs(output[i] - reference.output[i]));
          scale = Math.max(scale, Math.abs(reference.output[i]));
        }
        agreement = diff / scale;
        console.log(`  against ${reference.provider}: largest difference ${agreement.toExponential(2)} of the output's largest value (16 fields, sigma 0.05..14)`);
      }
      console.log('  batch   ms/call   fields/s');
      for (const batch of batches) {
        const x = new Float32Array(batch * d).map((_, i) => Math.sin(i));
        await prior.denoise(x, 1, batch);
        const times: number[] = [];
        for (let r = 0; r < repeats; r++) {
          const t0 = process.hrtime.bigint();
          await prior.denoise(x, 1, batch);
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        const ms = median(times);
        console.log(`  ${String(batch).padStart(5)} ${ms.toFixed(1).padStart(9)} ${((batch / ms) * 1000).toFixed(1).padStart(10)}`);
        rows.push({ model: path.basename(model), provider, threads, batch, msPerCall: ms, fieldsPerSecond: (batch / ms) * 1000 });
      }
      if (values['no-sample']) {
        rows.push({ model: path.basename(model), provider, threads, agreement });
        await prior.dispose();
        continue;
      }
      const t0 = Date.now();
      const samples = await sampleODE(prior, { count: 64, steps: 40, seed: 1 });
      const sampleSeconds = (Date.now() - t0) / 1000;
      console.log(`  40-step unconditional sample of 64 fields: ${sampleSeconds.toFixed(1)} s`);
      const heldOut = heldOutFor(prior.metadata);
      let spectrumRatio: { min: number; max: number; shells: number } | undefined;
      if (heldOut && fs.existsSync(heldOut.file)) {
        const data = await readNpy(heldOut.file);
        const R = prior.shape[1];
        const truth = Float32Array.from(data.data as Float32Array, (v) => v * heldOut.scale);
        const ratios = Array.from(await spectrumRatios({ fields: samples, count: 64, reference: truth, referenceCount: data.shape[0], resolution: R }));
        spectrumRatio = { min: Math.min(...ratios), max: Math.max(...ratios), shells: ratios.length };
        console.log(`  sample / held-out energy per shell (1..${ratios.length}): min ${spectrumRatio.min.toFixed(2)}, max ${spectrumRatio.max.toFixed(2)}`);
      }
      rows.push({ model: path.basename(model), provider, threads, agreement, sampleSeconds, spectrumRatio });
      await prior.dispose();
    }
  }
  writeResults('prior', values.out, { rows });
}

run(main);
