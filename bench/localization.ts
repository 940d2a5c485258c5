// Benchmark of the localized Kalman step (npm run bench:localization).
//
// On the Navier-Stokes problem's geometry (gridGeometry: an R x R field
// observed on every second point, d = R^2, m = R^2 / 4) it times, in one
// process, for each grid and ensemble size N:
//   - the TypeScript reference (localizedKalmanStep in localization.ts;
//     64x64 only, up to --ts-max particles);
//   - the native dense kernel (K a block of field points at a time, times
//     the d x m taper);
//   - the native FFT kernel (a convolution per pair of particles);
// the methods taking turns within each repeat, so that a change of machine
// load hits all of them; medians after a warm-up call each. It prints the
// operation counts beside the times (dense 4 N d m flops; FFT about
// N^2 (5 d log2 d + 8 d)) and what method 'auto' picks.
// Then the event-loop check: the largest gap between the ticks of a 1 ms
// interval while one native step runs at N = --loop-n on 64x64, with the
// taper built first (a run's first step) and already built, beside the same
// over an idle wait (the machine's own noise) and the time the call holds
// the main thread before it returns its promise.
//
// Options: --grids 64,128  --sizes 64,128,256,512  --repeats 5
//          --ts-max 512  --budget 60 (seconds per method and size: fewer
//          repeats past it)  --half-width 0.2  --loop-n 2048
//          --out FILE (bench/results/localization.json)
import { parseArgs } from 'node:util';

import { randomNormal } from '../lib';
import { localizedKalmanStep } from '../lib/algorithms/localization';
import { chooseLocalizationMethod, denseTaper, localizedKalmanStepNative } from '../lib/algorithms/localized-step';
import { gridGeometry } from '../lib/problems/navier-stokes-inverse';
import { largestGap, run, writeResults } from './common';

type Method = 'typescript' | 'dense' | 'fft';

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

interface Row {
  R: number;
  N: number;
  d: number;
  m: number;
  denseGflop: number;
  fftGflop: number;
  ms: Partial<Record<Method, number>>;
  runs: Partial<Record<Method, number>>;
  auto: 'dense' | 'fft';
}

async function inputs(N: number, d: number, m: number) {
  return {
    particles: await randomNormal({ count: d, streams: N, seed: 1 }),
    measurements: await randomNormal({ count: m, streams: N, seed: 2 }),
    residuals: await randomNormal({ count: m, streams: N, seed: 3 }),
  };
}

async function benchGrid(R: number, sizes: number[], repeats: number, tsMax: number, budget: number, c: number): Promise<Row[]> {
  const geometry = gridGeometry(R, 2);
  const d = R * R, m = d / 4;
  let t0 = performance.now();
  const rho = await denseTaper(geometry, c);
  console.log(`\n${R}x${R}: d = ${d}, m = ${m}, taper d x m = ${(d * m * 4 / 2 ** 20).toFixed(0)} MiB, built in ${(performance.now() - t0).toFixed(0)} ms (native, once per run)`);
  console.log('    N  dense GFLOP  fft GFLOP      TS ms   dense ms     fft ms   TS/dense  fft/dense  auto');
  const rows: Row[] = [];
  for (const N of sizes) {
    const data = await inputs(N, d, m);
    const out = new Float32Array(N * d);
    const calls: Partial<Record<Method, () => Promise<unknown>>> = {
      dense: () => localizedKalmanStepNative({ ...data, ensembleSize: N, stepScale: 1, geometry, halfWidth: c, method: 'dense', out }),
      fft: () => localizedKalmanStepNative({ ...data, ensembleSize: N, stepScale: 1, geometry, halfWidth: c, method: 'fft', out }),
    };
    if (R === 64 && N <= tsMax) {
      calls.typescript = () => localizedKalmanStep(data.particles, data.measurements, data.residuals, N, rho, 1, 'unlocalized');
    }
    const times: Partial<Record<Method, number[]>> = {};
    const spent: Partial<Record<Method, number>> = {};
    for (const [method, call] of Object.entries(calls) as Array<[Method, () => Promise<unknown>]>) {
      t0 = performance.now();
      await call(); // warm-up
      spent[method] = (performance.now() - t0) / 1e3;
      times[method] = [];
    }
    for (let i = 0; i < repeats; i++) {
      for (const [method, call] of Object.entries(calls) as Array<[Method, () => Promise<unknown>]>) {
        // Past the budget a method keeps the repeats it has (at least one).
        if (times[method]!.length > 0 && spent[method]! > budget) continue;
        t0 = performance.now();
        await call();
        const ms = performance.now() - t0;
        times[method]!.push(ms);
        spent[method]! += ms / 1e3;
      }
    }
    const ms: Partial<Record<Method, number>> = {}, runs: Partial<Record<Method, number>> = {};
    for (const method of Object.keys(times) as Method[]) {
      ms[method] = median(times[method]!);
      runs[method] = times[method]!.length;
    }
    const row: Row = {
      R, N, d, m,
      denseGflop: (4 * N * d * m) / 1e9,
      fftGflop: (N * N * (5 * d * Math.log2(d) + 8 * d)) / 1e9,
      ms, runs, auto: chooseLocalizationMethod(N, d, m, true),
    };
    rows.push(row);
    const f = (v: number | undefined, w: number, p = 1) => (v === undefined ? '-' : v.toFixed(p)).padStart(w);
    console.log(`${String(N).padStart(5)} ${f(row.denseGflop, 12, 2)} ${f(row.fftGflop, 10, 2)} ${f(ms.typescript, 10)} ` +
      `${f(ms.dense, 10)} ${f(ms.fft, 10)} ${f(ms.typescript && ms.typescript / ms.dense!, 10)} ${f(ms.fft! / ms.dense!, 10, 2)}  ${row.auto}`);
  }
  return rows;
}

// The event-loop check at N particles on 64x64, as a run calls the step
// (new particles written over the old). On a loaded machine the interval
// also misses ticks while the OS runs other work, so the same measurement
// over an idle wait of the same length is printed beside it.
async function eventLoop(N: number, c: number) {
  const R = 64, d = R * R, m = d / 4;
  const geometry = gridGeometry(R, 2);
  const data = await inputs(N, d, m);
  const method = chooseLocalizationMethod(N, d, m, true);
  const step = () => localizedKalmanStepNative({ ...data, ensembleSize: N, stepScale: 0, geometry, halfWidth: c, out: data.particles });
  const idle = (ms: number) => largestGap(() => new Promise((resolve) => setTimeout(resolve, ms)));
  const first = await largestGap(step); // builds the taper too
  const firstIdle = await idle(first.callMs);
  const later = await largestGap(step);
  const laterIdle = await idle(later.callMs);
  const f = (v: number) => v.toFixed(1);
  console.log(`\nEvent loop, 64x64, N = ${N} (${method}); largest gap between the ticks of a 1 ms interval:`);
  console.log(`  first step (taper built): ${f(first.gapMs)} ms over ${first.callMs.toFixed(0)} ms (idle wait as long: ${f(firstIdle.gapMs)} ms); ` +
    `the call returned its promise after ${f(first.returnMs)} ms`);
  console.log(`  later step:               ${f(later.gapMs)} ms over ${later.callMs.toFixed(0)} ms (idle wait as long: ${f(laterIdle.gapMs)} ms); ` +
    `the call returned its promise after ${f(later.returnMs)} ms`);
  return { N, method, first, firstIdleGapMs: firstIdle.gapMs, later, laterIdleGapMs: laterIdle.gapMs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      grids: { type: 'string', default: '64,128' },
      sizes: { type: 'string', default: '64,128,256,512' },
      repeats: { type: 'string', default: '5' },
      'ts-max': { type: 'string', default: '512' },
      budget: { type: 'string', default: '60' },
      'half-width': { type: 'string', default: '0.2' },
      'loop-n': { type: 'string', default: '2048' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const list = (s: string, name: string) => {
    const v = s.split(',').map(Number);
    if (v.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`--${name} must list integers >= 2, got ${s}`);
    return v;
  };
  const grids = list(String(values.grids), 'grids');
  if (grids.some((R) => R % 4 !== 0)) throw new Error(`--grids must list multiples of 4, got ${values.grids}`);
  const sizes = list(String(values.sizes), 'sizes');
  const repeats = Number(values.repeats), tsMax = Number(values['ts-max']), budget = Number(values.budget);
  const c = Number(values['half-width']), loopN = Number(values['loop-n']);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got ${values.repeats}`);
  if (!(budget > 0)) throw new Error(`--budget must be a positive number of seconds, got ${values.budget}`);
  if (!(c > 0 && c <= 0.5)) throw new Error(`--half-width must be in (0, 0.5], got ${values['half-width']}`);
  if (!Number.isInteger(loopN) || loopN < 0) throw new Error(`--loop-n must be an integer >= 0 (0: skip), got ${values['loop-n']}`);
  console.log(`Localized Kalman step, Gaspari-Cohn half-width ${c}, median of up to ${repeats} after a warm-up ` +
    `(fewer past ${budget} s per method and size); ms per step`);
  const rows: Row[] = [];
  for (const R of grids) rows.push(...(await benchGrid(R, sizes, repeats, tsMax, budget, c)));
  const loop = loopN > 0 ? await eventLoop(loopN, c) : undefined;
  writeResults('localization', values.out, { halfWidth: c, repeats, budget, rows, eventLoop: loop });
}

run(main);
