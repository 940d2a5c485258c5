// Throughput of the forward-model adapters (lib/forward) on one CPU-heavy
// JavaScript function (bench/pipeline-model.js): fromFunction on the main
// thread, fromWorkers in a pool, fromCommand as one Node process per chunk,
// for concurrency 1, 2 and 4; and the per-evaluation overhead of fromCommand
// (one process per particle running a program that does almost nothing: the
// C heat simulator of examples/heat with 0 steps, and the Node program with
// no work) over fromFunction doing the same nothing.
//
// The bare cost of starting the C program (execFile on a ready input file,
// no enkg) is timed beside it, so what the protocol adds (files, process
// group, checks) shows on its own.
//
//   node -r ts-node/register/transpile-only bench/pipeline.ts [--particles 64] [--reps 3] [--out FILE]
//     [--overhead-only] [--many-only] [--many 1,4,16]
//
// --many: the solveMany table. B Navier-Stokes observations (held-out
// fields 0..B-1, 64x64, T = 1, the shipped prior) solved by EnKG (N = 16,
// K = 8, U = 1) as B separate runs one after another and as one solveMany
// run; observations solved per hour each way, and their ratio.
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { promisify } from 'node:util';

import { EnKG, ForwardModel, heldOutField, InverseProblem, navierStokesInverseProblem, OnnxDenoiser, solveMany, writeNpy } from '../lib';
import { NS_PRIOR_64 } from '../lib/paths';
import { run, writeResults } from './common';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const heavy = require('./pipeline-model.js') as ((x: Float32Array, i: number, work?: number) => Float64Array) & { M: number };

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Median seconds of `reps` calls of forward(x, N) after warm-up calls: until
 * two in a row agree within 25% (at most 8), so that worker threads that
 * were still starting (loading ts-node, from sources) do not share the timed
 * calls' cores.
 */
async function time(model: { forward(x: Float32Array, n: number): Promise<Float32Array> }, x: Float32Array, N: number, reps: number): Promise<number> {
  let last = Infinity;
  for (let w = 0; w < 8; w++) {
    const t0 = process.hrtime.bigint();
    await model.forward(x, N);
    const t = Number(process.hrtime.bigint() - t0);
    if (Math.abs(t - last) < 0.25 * last) break;
    last = t;
  }
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    await model.forward(x, N);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return median(times);
}

run(async () => {
  const N = flag('particles', 64), reps = flag('reps', 3);
  const outAt = process.argv.indexOf('--out');
  const manyAt = process.argv.indexOf('--many');
  const manySizes = (manyAt < 0 ? '1,4,16' : process.argv[manyAt + 1]).split(',').map(Number);
  if (process.argv.includes('--many-only')) {
    const many = await manyTable(manySizes);
    writeResults('pipeline-many', outAt < 0 ? undefined : process.argv[outAt + 1], { cores: os.availableParallelism(), loadAverage: os.loadavg(), many });
    return;
  }
  const R = 32, fieldShape: [number, number, number] = [1, R, R], m = heavy.M;
  const x = Float32Array.from({ length: N * R * R }, (_, k) => Math.sin(0.01 * k));
  const perCall = (1e3 * (await time(ForwardModel.fromFunction(heavy, { fieldShape, measurementSize: m }), x.subarray(0, R * R), 1, 5)));
  console.log(`forward function: ${perCall.toFixed(2)} ms per field (${R}x${R}); N = ${N} fields per call; `
    + `${os.availableParallelism()} cores; median of ${reps} calls after warm-up; `
    + `load average ${os.loadavg()[0].toFixed(1)}\n`);

  const rows: Array<{ adapter: string; concurrency: number; seconds: number; fieldsPerSecond: number; ratio: number }> = [];
  const overheadOnly = process.argv.includes('--overhead-only');
  const base = overheadOnly ? NaN : await time(ForwardModel.fromFunction(heavy, { fieldShape, measurementSize: m }), x, N, reps);
  const add = (adapter: string, concurrency: number, seconds: number) => {
    rows.push({ adapter, concurrency, seconds, fieldsPerSecond: N / seconds, ratio: base / seconds });
  };
  if (!overheadOnly) add('fromFunction', 1, base);
  for (const concurrency of overheadOnly ? [] : [1, 2, 4]) {
    const workers = ForwardModel.fromWorkers(path.join(__dirname, 'pipeline-model.js'), { fieldShape, measurementSize: m, concurrency });
    try {
      add('fromWorkers', concurrency, await time(workers, x, N, reps));
    } finally {
      await workers.dispose();
    }
    const command = ForwardModel.fromCommand([process.execPath, path.join(__dirname, 'pipeline-command.js'), '{input}', '{output}'],
      { fieldShape, measurementSize: m, concurrency, chunkSize: Math.ceil(N / concurrency) });
    add('fromCommand (chunks)', concurrency, await time(command, x, N, reps));
  }
  console.log('| adapter | concurrency | s per call | fields/s | speed-up over fromFunction |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.adapter} | ${r.concurrency} | ${r.seconds.toFixed(3)} | ${r.fieldsPerSecond.toFixed(0)} | ${r.ratio.toFixed(2)} |`);
  }

  // Overhead: one process per particle, concurrency 1, against fromFunction doing as little.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-pipeline-'));
  const overhead: Array<{ program: string; msPerEvaluation: number }> = [];
  try {
    const simulator = path.join(scratch, 'heat-sim');
    execFileSync('cc', ['-O2', '-std=c99', '-o', simulator, path.join(__dirname, '../examples/heat/simulator.c')]);
    const Nsmall = Math.min(N, 32);
    const xs = x.subarray(0, Nsmall * R * R);
    const nothing = await time(ForwardModel.fromFunction((f: Float32Array) => f.subarray(0, R * R), { fieldShape, measurementSize: R * R }), xs, Nsmall, reps);
    const programs: Array<[string, string[], number, Record<string, string>?]> = [
      ['C heat simulator, 0 steps', [simulator, '{input}', '{output}', '0', '1'], R * R],
      ['Node program, no work', [process.execPath, path.join(__dirname, 'pipeline-command.js'), '{input}', '{output}'], m, { PIPELINE_WORK: '0' }],
    ];
    for (const [program, argv, measurementSize, env] of programs) {
      const model = ForwardModel.fromCommand(argv, { fieldShape, measurementSize, concurrency: 1, env });
      const seconds = await time(model, xs, Nsmall, reps);
      overhead.push({ program, msPerEvaluation: 1e3 * (seconds - nothing) / Nsmall });
    }
    // The same C program started directly, one after another, on a ready file.
    const input = path.join(scratch, 'in.npy'), output = path.join(scratch, 'out.npy');
    await writeNpy(input, xs.subarray(0, R * R), [1, ...fieldShape]);
    const bare: number[] = [];
    for (let r = 0; r < reps + 1; r++) {
      const t0 = process.hrtime.bigint();
      for (let n = 0; n < Nsmall; n++) await promisify(execFile)(simulator, [input, output, '0', '1']);
      bare.push(Number(process.hrtime.bigint() - t0) / 1e6 / Nsmall);
    }
    overhead.push({ program: 'C heat simulator, 0 steps, started bare (execFile, no enkg)', msPerEvaluation: median(bare.slice(1)) });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  console.log('\n| fromCommand, one process per particle (concurrency 1) | ms per evaluation over fromFunction |');
  console.log('|---|---|');
  for (const o of overhead) console.log(`| ${o.program} | ${o.msPerEvaluation.toFixed(2)} |`);
  const many = await manyTable(manySizes);
  writeResults('pipeline', outAt < 0 ? undefined : process.argv[outAt + 1], {
    particles: N, field: fieldShape, msPerField: perCall, cores: os.availableParallelism(), loadAverage: os.loadavg(), rows, overhead, many,
  });
});

interface ManyRow { B: number; separateSeconds: number; togetherSeconds: number; separatePerHour: number; togetherPerHour: number; ratio: number }

/** B observations as B separate EnKG runs and as one solveMany run (see the header). */
async function manyTable(sizes: number[]): Promise<ManyRow[]> {
  const prior = await OnnxDenoiser.load(NS_PRIOR_64, { executionProviders: ['cpu'] });
  const rows: ManyRow[] = [];
  try {
    const make = () => new EnKG({ ensembleSize: 16, steps: 8, updates: 1 });
    // Warm-up (ONNX Runtime's first calls, FFTW's plans): not timed.
    const warm = await navierStokesInverseProblem({ prior, truth: await heldOutField(0), noise: 0, seed: 0, backend: 'cpu' });
    await make().solve(warm.problem, { seed: 0, backend: 'cpu' });
    await solveMany(make(), [warm.problem, warm.problem], { backend: 'cpu' });
    for (const B of sizes) {
      const problems: InverseProblem[] = [];
      for (let b = 0; b < B; b++) {
        const { problem } = await navierStokesInverseProblem({ prior, truth: await heldOutField(b % 64), noise: 0, seed: b, backend: 'cpu' });
        problems.push(problem);
      }
      // One forward model shared by all (solveMany needs the same object).
      const shared = problems.map((p) => ({ ...p, forward: problems[0].forward }));
      let t0 = process.hrtime.bigint();
      for (let b = 0; b < B; b++) await make().solve(shared[b], { seed: b, backend: 'cpu' });
      const separateSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      t0 = process.hrtime.bigint();
      await solveMany(make(), shared, { seeds: shared.map((_p, b) => b), backend: 'cpu' });
      const togetherSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      rows.push({
        B, separateSeconds, togetherSeconds, separatePerHour: 3600 * B / separateSeconds, togetherPerHour: 3600 * B / togetherSeconds,
        ratio: separateSeconds / togetherSeconds,
      });
      console.error(`  B = ${B}: separate ${separateSeconds.toFixed(1)} s, solveMany ${togetherSeconds.toFixed(1)} s`);
    }
  } finally {
    await prior.dispose();
  }
  console.log('\n| B observations | B separate runs (s) | solveMany (s) | observations/hour separate | observations/hour solveMany | speed-up |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.B} | ${r.separateSeconds.toFixed(1)} | ${r.togetherSeconds.toFixed(1)} | ${r.separatePerHour.toFixed(0)} | ${r.togetherPerHour.toFixed(0)} | ${r.ratio.toFixed(2)} |`);
  }
  return rows;
}
