// Forward evaluations through BullMQ (ForwardModel.fromQueue + enkg worker)
// against the same model in process, on loopback with a redis-server of the
// benchmark's own:
//   1. fields per second of the Navier-Stokes forward model (T = 1) at 64x64
//      and 128x128: in process, and through the queue with 1 and 2 worker
//      processes (chunks of fields/4);
//   2. the overhead per job, enqueue to gathered result less the worker's own
//      evaluation, of one job of 1 and of 64 fields on an idle worker (a model
//      that costs nothing: it copies every 4th value, the Navier-Stokes
//      problem's m = d/4);
//   3. one forward call of N = 2048 at 64x64 and 128x128 with that model and
//      one worker: bytes sent and received (the particle keys), bytes Redis
//      moved (INFO stats), and the wall time per job;
//   4. the Kalman correction at N = 2048, d = 128^2, m = 64^2 on this machine;
//   5. from those, on paper, the wall time of the paper's configuration
//      (N = 2048, K = 80, U = 2: 160 forward calls and corrections, 128x128)
//      on M = 1, 4, 16, 64 machines, each running one worker as fast as this
//      one, and the M past which the central correction is the bottleneck.
//
//   npm run build:ts   (the workers are dist/cli/main.js worker)
//   node -r ts-node/register/transpile-only bench/distributed.ts [--fields 16] [--fields128 4] [--reps 3] [--out FILE]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import IORedis from 'ioredis';

import { ForwardModel, kalmanStep, NavierStokes2D, QueueForwardModel } from '../lib';
import { startRedis, startWorker, WorkerProcess } from '../test/helpers/redis';
import { run, writeResults } from './common';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}
const outFlag = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : undefined;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Smooth deterministic fields, normalized units. */
function fields(batch: number, R: number): Float32Array {
  const x = new Float32Array(batch * R * R);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) x[(b * R + i) * R + j] = 0.5 * Math.sin(2 * Math.PI * (i + b) / R) * Math.cos(2 * Math.PI * j * (1 + (b % 3)) / R);
    }
  }
  return x;
}

/** Median seconds of `reps` calls after one warm-up call. */
async function timed(reps: number, call: () => Promise<unknown>): Promise<number> {
  await call();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await call();
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

const COPY_MODEL = `// Costs nothing: every 4th value of each field, m = d / 4 (the Navier-Stokes problem's sizes).
module.exports = function copy(x, batch) {
  const d = x.length / batch, m = d / 4, y = new Float32Array(batch * m);
  for (let b = 0; b < batch; b++) for (let k = 0; k < m; k++) y[b * m + k] = x[b * d + 4 * k];
  return y;
};`;

async function redisBytes(url: string): Promise<number> {
  const client = new IORedis(url);
  try {
    const info = await client.info('stats');
    const get = (key: string) => Number(new RegExp(`${key}:(\\d+)`).exec(info)?.[1] ?? NaN);
    return get('total_net_input_bytes') + get('total_net_output_bytes');
  } finally {
    client.disconnect();
  }
}

async function main(): Promise<void> {
  const B = flag('fields', 16), B128 = flag('fields128', 4), reps = flag('reps', 3);
  const redis = await startRedis();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-bench-distributed-'));
  const copyModule = path.join(dir, 'copy.js');
  fs.writeFileSync(copyModule, COPY_MODEL);
  const workers: WorkerProcess[] = [];
  const models: QueueForwardModel[] = [];
  const queueModel = (queue: string, model: Parameters<typeof ForwardModel.fromQueue>[0]['model'], chunk: number, shape?: [number, number, number]) => {
    const m = ForwardModel.fromQueue({
      connection: redis.url, queue, model, chunk, timeoutMs: 3600_000,
      ...(shape ? { fieldShape: shape, measurementSize: shape[1] * shape[2] / 4 } : {}),
    });
    models.push(m);
    return m;
  };
  try {
    // 1. Navier-Stokes fields per second.
    const throughput: Record<string, unknown>[] = [];
    for (const [R, batch] of [[64, B], [128, B128]] as const) {
      const ns = new NavierStokes2D({ resolution: R, time: 1, backend: 'cpu' });
      const x = fields(batch, R);
      const local = await timed(reps, () => ns.forward(x, batch));
      throughput.push({ resolution: R, fields: batch, how: 'in process', workers: 0, seconds: local, fieldsPerSecond: batch / local, ratio: 1 });
      console.log(`${R}x${R}: in process ${(batch / local).toFixed(2)} fields/s`);
      const queue = `ns${R}`;
      const args = ['--redis', redis.url, '--queue', queue, '--model', 'navier-stokes'];
      for (const count of [1, 2]) {
        while (workers.filter((w) => w.output().includes(`queue '${queue}'`)).length < count) workers.push(await startWorker(args));
        const model = queueModel(queue, ns, Math.max(1, Math.ceil(batch / 4)));
        const s = await timed(reps, () => model.forward(x, batch));
        throughput.push({ resolution: R, fields: batch, how: 'queue', workers: count, seconds: s, fieldsPerSecond: batch / s, ratio: local / s });
        console.log(`${R}x${R}: queue, ${count} worker(s) ${(batch / s).toFixed(2)} fields/s (${(local / s).toFixed(2)} of in process)`);
      }
      await Promise.all(workers.splice(0).map((w) => w.kill()));
    }

    // 2 and 3. Overhead per job and bytes per call at N = 2048, one idle worker of a model that costs nothing.
    workers.push(await startWorker(['--redis', redis.url, '--queue', 'copy', '--model', copyModule, '--batched']));
    const overhead: Record<string, unknown>[] = [];
    const perCall: Record<string, unknown>[] = [];
    for (const R of [64, 128]) {
      const shape: [number, number, number] = [1, R, R];
      for (const n of [1, 64]) {
        const model = queueModel('copy', 'copy', n, shape);
        const x = fields(n, R);
        const samples: number[] = [];
        await model.forward(x, n);
        for (let r = 0; r < 20; r++) {
          await model.forward(x, n);
          samples.push(model.lastCall!.overheadMs[0]);
        }
        overhead.push({ resolution: R, fieldsPerJob: n, overheadMs: median(samples) });
        console.log(`${R}x${R}: one job of ${n} field(s): overhead ${median(samples).toFixed(1)} ms (enqueue to result, less evaluation)`);
      }
      const N = 2048;
      const model = queueModel('copy', 'copy', 64, shape);
      const x = fields(N, R);
      await model.forward(x, N);
      const before = await redisBytes(redis.url);
      const s = await timed(reps, () => model.forward(x, N));
      const moved = ((await redisBytes(redis.url)) - before) / (reps + 1);
      const call = model.lastCall!;
      perCall.push({
        resolution: R, N, jobs: call.jobs, bytesSent: call.bytesSent, bytesReceived: call.bytesReceived, redisBytesPerCall: moved,
        secondsPerCall: s, msPerJob: s * 1000 / call.jobs,
      });
      console.log(`${R}x${R}, N = ${N}: ${(call.bytesSent / 2 ** 20).toFixed(0)} MiB out, ${(call.bytesReceived / 2 ** 20).toFixed(0)} MiB back, `
        + `Redis moved ${(moved / 2 ** 20).toFixed(0)} MiB; ${s.toFixed(2)} s per call, ${(s * 1000 / call.jobs).toFixed(1)} ms per job`);
    }

    // 4. The central correction at the paper's sizes.
    const N = 2048, d = 128 * 128, m = 64 * 64;
    const X = new Float32Array(N * d).map((_, i) => Math.sin(i * 1e-3));
    const Y = new Float32Array(N * m).map((_, i) => Math.cos(i * 1e-3));
    const out = new Float32Array(N * d);
    const correction = await timed(reps, () => kalmanStep({ particles: X, measurements: Y, residuals: Y, ensembleSize: N, stepScale: 0.1, backend: 'cpu', out }));
    console.log(`Kalman correction N = ${N}, d = 128^2, m = 64^2: ${(correction * 1000).toFixed(0)} ms`);

    // 5. On paper: the paper's configuration on M machines like this one.
    const calls = 80 * 2;
    const field128 = 1 / (throughput.find((t) => t.resolution === 128 && t.how === 'in process')!.fieldsPerSecond as number);
    const job1 = overhead.find((o) => o.resolution === 128 && o.fieldsPerJob === 1)!.overheadMs as number;
    const job64 = (perCall.find((p) => p.resolution === 128)!.msPerJob as number);
    // Per-job cost of moving c fields, linear between one field (idle latency) and 64 (serial cost at N = 2048).
    const jobCost = (c: number) => (job1 + (job64 - job1) * (c - 1) / 63) / 1000;
    const forwardPerCall = (M: number) => {
      const chunk = Math.min(64, Math.ceil(N / M));
      const rounds = Math.ceil(N / (M * chunk));
      return { chunk, rounds, seconds: rounds * (chunk * field128 + jobCost(chunk)) };
    };
    const projection = [1, 4, 16, 64].map((M) => {
      const { chunk, rounds, seconds } = forwardPerCall(M);
      const hours = calls * (seconds + correction) / 3600;
      return { machines: M, chunk, jobsPerMachine: rounds, forwardSecondsPerCall: seconds, correctionSeconds: correction, hours, correctionShare: correction / (seconds + correction) };
    });
    // The correction is the bottleneck from the first M (doubling) at which a call's forward solves take less time than it.
    let bottleneck = 1;
    while (bottleneck < N && forwardPerCall(bottleneck).seconds > correction) bottleneck *= 2;
    console.log(`\nThe paper's configuration (N = 2048, K = 80, U = 2, 128x128; ${field128.toFixed(3)} s per field, ${(correction * 1000).toFixed(0)} ms per correction):`);
    console.log('| machines | chunk | jobs per machine per call | forward s per call | correction s | hours | correction share |');
    console.log('|---|---|---|---|---|---|---|');
    for (const p of projection) {
      console.log(`| ${p.machines} | ${p.chunk} | ${p.jobsPerMachine} | ${p.forwardSecondsPerCall.toFixed(1)} | ${p.correctionSeconds.toFixed(2)} | ${p.hours.toFixed(2)} | ${(100 * p.correctionShare).toFixed(1)}% |`);
    }
    console.log(`The correction takes longer than a call's forward solves from M = ${bottleneck} machines (doubling from 1).`);
    writeResults('distributed', outFlag, { machine: `${os.cpus().length} x ${os.cpus()[0]?.model}`, loadavg: os.loadavg(), throughput, overhead, perCall, correctionSeconds: correction, projection, bottleneckMachines: bottleneck });
  } finally {
    await Promise.allSettled(models.map((m) => m.dispose()));
    await Promise.allSettled(workers.map((w) => w.kill()));
    await redis.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

run(main);
