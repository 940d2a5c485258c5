// Benchmark of the Kalman step (npm run bench:ensemble).
//
// For N in {256, 1024, 2048}, d = 128 x 128, m = 64 x 64 on every available
// backend it times, in one process:
//   - the native step on device-resident data, and a square sgemm with the
//     same multiply-add count (the baseline; ratio = step rate / sgemm rate);
//   - the public kalmanStep() on host arrays (validation, finite checks and,
//     on a GPU, the transfers included), with a reused `out` array;
//   - on CUDA, Ensemble.kalmanStep() with the particles resident on the GPU;
//   - the cost of keeping kalmanStep()'s arrays attached while its worker
//     runs (lib/binding.ts): marking the four buffers untransferable, as the
//     binding does, against copying them in and out at the boundary (a fresh
//     private copy of the inputs and of `out`), each as a fraction of the
//     kalmanStep() time.
// Each timed call alternates with a baseline sgemm, and every ratio compares
// medians taken side by side. Prints a table and writes JSON.
//
// Options: --backend cpu|cuda|all (default all available), --repeats R (5),
//          --sizes 256,1024,2048, --out FILE (bench/results/ensemble-<backend>.json)
import { parseArgs } from 'node:util';
import { markAsUntransferable } from 'node:worker_threads';

import { backends, BackendName, Ensemble, kalmanStep, randomNormal } from '../lib';
import { run, writeResults } from './common';
import { native } from '../lib/binding';

const D = 128 * 128;
const M = 64 * 64;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// Times `run` and, after each call, one baseline sgemm of `size`: the two
// alternate so that a change of machine speed during the run hits both.
async function timeInterleaved(
  repeats: number, backend: BackendName, size: number, run: () => Promise<unknown>,
): Promise<{ run: number; sgemm: number }> {
  await run(); // warm-up
  const runs: number[] = [];
  const sgemms: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    sgemms.push(...(await native.benchSgemm(backend, size, 1)));
  }
  return { run: median(runs), sgemm: median(sgemms) };
}

interface Row {
  backend: BackendName;
  N: number;
  d: number;
  m: number;
  ordering: string;
  gflop: number;
  kernelMs: number;
  sgemmMs: number;
  sgemmSize: number;
  kernelGflops: number;
  sgemmGflops: number;
  kernelRatio: number;
  apiMs: number;
  apiRatio: number;
  residentMs?: number;
  residentRatio?: number;
  pinMs: number;
  copyMs: number;
}

// Median times of the two ways to keep kalmanStep()'s arrays attached.
function boundaryCosts(repeats: number, arrays: Float32Array[], out: Float32Array): { pinMs: number; copyMs: number } {
  const time = (body: () => void): number => {
    const t0 = process.hrtime.bigint();
    body();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const pins: number[] = [];
  const copies: number[] = [];
  for (let i = 0; i < repeats; i++) {
    pins.push(time(() => { for (const a of [...arrays, out]) markAsUntransferable(a.buffer); }));
    copies.push(time(() => {
      for (const a of arrays) a.slice();
      new Float32Array(out.length).set(out);
    }));
  }
  return { pinMs: median(pins), copyMs: median(copies) };
}

async function benchBackend(backend: BackendName, sizes: number[], repeats: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const N of sizes) {
    const native_ = await native.benchKalman(backend, N, D, M, repeats);
    const flops = 2 * native_.multiplyAdds;
    const kernel = median(native_.stepSeconds);
    const sgemm = median(native_.sgemmSeconds);
    const sgemmRate = (2 * native_.sgemmSize ** 3) / sgemm;

    const particles = await randomNormal({ count: D, streams: N, seed: 1 });
    const measurements = await randomNormal({ count: M, streams: N, seed: 2 });
    const residuals = await randomNormal({ count: M, streams: N, seed: 3 });
    const out = new Float32Array(N * D);
    const api = await timeInterleaved(repeats, backend, native_.sgemmSize, () =>
      kalmanStep({ particles, measurements, residuals, ensembleSize: N, stepScale: 1, backend, out }));

    const boundary = boundaryCosts(repeats, [particles, measurements, residuals], out);

    let resident: { run: number; sgemm: number } | undefined;
    if (backend === 'cuda') {
      const ensemble = await Ensemble.create({ particles, ensembleSize: N, backend });
      resident = await timeInterleaved(repeats, backend, native_.sgemmSize,
        () => ensemble.kalmanStep({ measurements, residuals, stepScale: 1 }));
      await ensemble.dispose();
    }
    const sgemmFlops = 2 * native_.sgemmSize ** 3;
    rows.push({
      backend, N, d: D, m: M, ordering: native_.ordering, gflop: flops / 1e9,
      kernelMs: kernel * 1e3, sgemmMs: sgemm * 1e3, sgemmSize: native_.sgemmSize,
      kernelGflops: flops / kernel / 1e9, sgemmGflops: sgemmRate / 1e9,
      kernelRatio: flops / kernel / sgemmRate,
      apiMs: api.run * 1e3, apiRatio: (flops / api.run) / (sgemmFlops / api.sgemm),
      residentMs: resident === undefined ? undefined : resident.run * 1e3,
      residentRatio: resident === undefined ? undefined : (flops / resident.run) / (sgemmFlops / resident.sgemm),
      pinMs: boundary.pinMs, copyMs: boundary.copyMs,
    });
    printRow(rows[rows.length - 1]);
  }
  return rows;
}

function printHeader(): void {
  console.log(
    'backend     N  ordering      GFLOP  kernel ms  GFLOP/s  sgemm ms (size)  GFLOP/s  ratio  kalmanStep ms  ratio  resident ms  ratio  pin ms (share)  copy ms (share)');
}

function printRow(r: Row): void {
  const f = (v: number | undefined, w: number, p = 1): string => (v === undefined ? '-' : v.toFixed(p)).padStart(w);
  console.log(
    `${r.backend.padEnd(7)} ${String(r.N).padStart(5)}  ${r.ordering.padEnd(12)} ${f(r.gflop, 6)} ${f(r.kernelMs, 10, 2)} ` +
      `${f(r.kernelGflops, 8)} ${f(r.sgemmMs, 9, 2)} (${String(r.sgemmSize).padStart(4)}) ${f(r.sgemmGflops, 8)} ` +
      `${f(r.kernelRatio, 6, 2)} ${f(r.apiMs, 14, 2)} ${f(r.apiRatio, 6, 2)} ${f(r.residentMs, 12, 2)} ${f(r.residentRatio, 6, 2)} ` +
      `${f(r.pinMs, 7, 3)} (${f(r.pinMs / r.apiMs, 5, 4)}) ${f(r.copyMs, 8, 1)} (${f(r.copyMs / r.apiMs, 5, 3)})`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'all' },
      repeats: { type: 'string', default: '5' },
      sizes: { type: 'string', default: '256,1024,2048' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const repeats = Number(values.repeats);
  const sizes = String(values.sizes).split(',').map(Number);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got ${values.repeats}`);
  if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`--sizes must list integers >= 2, got ${values.sizes}`);
  const available = (await backends()).filter((b) => b.available).map((b) => b.name);
  const wanted: BackendName[] = values.backend === 'all' ? available : [values.backend as BackendName];
  for (const b of wanted) {
    if (!available.includes(b)) throw new Error(`backend ${b} is unavailable on this machine (see enkg info)`);
  }
  console.log(`Kalman step, d = ${D}, m = ${M}, median of ${repeats} after a warm-up; ratio = rate / sgemm rate\n`);
  printHeader();
  const rows: Row[] = [];
  for (const backend of wanted) rows.push(...(await benchBackend(backend, sizes, repeats)));
  writeResults(`ensemble-${wanted.join('-')}`, values.out, { repeats, d: D, m: M, backends: await backends(), rows });
}

run(main);
