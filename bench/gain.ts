// Benchmark of the regularized gain (npm run bench:gain).
//
// For each ensemble size N, with m measurements per particle, it times in
// one process the TypeScript reference (regularizedResidualsReference in
// corrections.ts: cyclic Jacobi, float64 loops; up to --ts-max particles)
// and the addon's kernel (native/cpu/gain_cpu.cc: OpenBLAS dgemm, LAPACK
// dsyevd), both with the adaptive alpha, taking turns within each repeat;
// medians after a warm-up call each (fewer repeats past --budget seconds per
// method and size, at least one). It prints how far the two results are
// apart (max |difference| / max |reference|, and alpha's relative
// difference) beside the times.
// Then the event-loop check: the largest gap between the ticks of a 1 ms
// interval while the addon computes the gain at N = --loop-n, beside the
// same over an idle wait as long, and how long the call held the main
// thread before handing back its promise.
//
// Options: --sizes 64,256,1024  --m 1024  --repeats 3  --ts-max 1024
//          --budget 30  --loop-n 2048  --out FILE (bench/results/gain.json)
import { parseArgs } from 'node:util';

import { randomNormal } from '../lib';
import { regularizedResiduals, regularizedResidualsReference, ResolvedGain } from '../lib/algorithms/corrections';
import { largestGap, run, writeResults } from './common';

type Method = 'typescript' | 'native';

const GAIN: ResolvedGain = { alpha: 'adaptive', rho: 0.5 };

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** N rows of m measurements and residuals from the native generator, and each particle's squared residual norm. */
async function inputs(N: number, m: number) {
  const measurements = await randomNormal({ count: m, streams: N, seed: 2 });
  const residuals = await randomNormal({ count: m, streams: N, seed: 3 });
  const sizes = new Float64Array(N);
  for (let n = 0; n < N; n++) for (let l = 0; l < m; l++) sizes[n] += residuals[n * m + l] ** 2;
  return { measurements, residuals, sizes };
}

interface Row {
  N: number;
  m: number;
  ms: Partial<Record<Method, number>>;
  runs: Partial<Record<Method, number>>;
  /** max |native - reference| / max |reference| over rt, and |alpha_native / alpha_reference - 1|. */
  rtDifference?: number;
  alphaDifference?: number;
}

async function benchSize(N: number, m: number, repeats: number, tsMax: number, budget: number): Promise<Row> {
  const { measurements, residuals, sizes } = await inputs(N, m);
  const results: Partial<Record<Method, { residuals: Float32Array; alpha: number }>> = {};
  const calls: Partial<Record<Method, () => Promise<unknown>>> = {
    native: async () => { results.native = await regularizedResiduals(measurements, residuals, N, GAIN, sizes); },
  };
  if (N <= tsMax) {
    calls.typescript = async () => { results.typescript = await regularizedResidualsReference(measurements, residuals, N, GAIN, sizes); };
  }
  const entries = Object.entries(calls) as Array<[Method, () => Promise<unknown>]>;
  const times: Partial<Record<Method, number[]>> = {}, spent: Partial<Record<Method, number>> = {};
  for (const [method, call] of entries) {
    const t0 = performance.now();
    await call(); // warm-up
    spent[method] = (performance.now() - t0) / 1e3;
    times[method] = [];
  }
  for (let i = 0; i < repeats; i++) {
    for (const [method, call] of entries) {
      if (times[method]!.length > 0 && spent[method]! > budget) continue;
      const t0 = performance.now();
      await call();
      const ms = performance.now() - t0;
      times[method]!.push(ms);
      spent[method]! += ms / 1e3;
    }
  }
  const row: Row = { N, m, ms: {}, runs: {} };
  for (const [method] of entries) {
    row.ms[method] = median(times[method]!);
    row.runs[method] = times[method]!.length;
  }
  const { native, typescript } = results;
  if (native && typescript) {
    let diff = 0, scale = 0;
    for (let k = 0; k < N * m; k++) {
      diff = Math.max(diff, Math.abs(native.residuals[k] - typescript.residuals[k]));
      scale = Math.max(scale, Math.abs(typescript.residuals[k]));
    }
    row.rtDifference = diff / scale;
    row.alphaDifference = Math.abs(native.alpha / typescript.alpha - 1);
  }
  return row;
}

async function eventLoop(N: number, m: number) {
  const { measurements, residuals, sizes } = await inputs(N, m);
  await regularizedResiduals(measurements, residuals, N, GAIN, sizes); // warm-up
  const during = await largestGap(() => regularizedResiduals(measurements, residuals, N, GAIN, sizes));
  const idle = await largestGap(() => new Promise((resolve) => setTimeout(resolve, during.callMs)));
  const f = (v: number) => v.toFixed(1);
  console.log(`\nEvent loop, N = ${N}, m = ${m}: largest gap between the ticks of a 1 ms interval ${f(during.gapMs)} ms ` +
    `over ${during.callMs.toFixed(0)} ms (idle wait as long: ${f(idle.gapMs)} ms); the call returned its promise after ${f(during.returnMs)} ms`);
  return { N, m, ...during, idleGapMs: idle.gapMs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '64,256,1024' },
      m: { type: 'string', default: '1024' },
      repeats: { type: 'string', default: '3' },
      'ts-max': { type: 'string', default: '1024' },
      budget: { type: 'string', default: '30' },
      'loop-n': { type: 'string', default: '2048' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const sizes = String(values.sizes).split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`--sizes must list integers >= 2, got ${values.sizes}`);
  const m = Number(values.m), repeats = Number(values.repeats), tsMax = Number(values['ts-max']);
  const budget = Number(values.budget), loopN = Number(values['loop-n']);
  if (!Number.isInteger(m) || m < 1) throw new Error(`--m must be a positive integer, got ${values.m}`);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got ${values.repeats}`);
  if (!Number.isInteger(tsMax) || tsMax < 0) throw new Error(`--ts-max must be an integer >= 0, got ${values['ts-max']}`);
  if (!(budget > 0)) throw new Error(`--budget must be a positive number of seconds, got ${values.budget}`);
  if (!Number.isInteger(loopN) || loopN < 0) throw new Error(`--loop-n must be an integer >= 0 (0: skip), got ${values['loop-n']}`);
  console.log(`Regularized gain (adaptive alpha, rho ${GAIN.rho}), m = ${m}; median of up to ${repeats} after a warm-up ` +
    `(fewer past ${budget} s per method and size); ms per call`);
  console.log('    N        TS ms    native ms    TS/native   rt difference   alpha difference');
  const rows: Row[] = [];
  for (const N of sizes) {
    const row = await benchSize(N, m, repeats, tsMax, budget);
    rows.push(row);
    const f = (v: number | undefined, w: number, p = 1) => (v === undefined ? '-' : v.toFixed(p)).padStart(w);
    const e = (v: number | undefined, w: number) => (v === undefined ? '-' : v.toExponential(1)).padStart(w);
    console.log(`${String(N).padStart(5)} ${f(row.ms.typescript, 12)} ${f(row.ms.native, 12)} ` +
      `${f(row.ms.typescript && row.ms.typescript / row.ms.native!, 12)} ${e(row.rtDifference, 15)} ${e(row.alphaDifference, 18)}`);
  }
  const loop = loopN > 0 ? await eventLoop(loopN, m) : undefined;
  writeResults('gain', values.out, { m, gain: GAIN, repeats, budget, rows, eventLoop: loop });
}

run(main);
