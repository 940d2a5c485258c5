// ForwardModel.fromQueue and `enkg worker` against a real redis-server of the
// test's own and real worker processes (dist/: npm run build:ts first):
// the same measurements as in process, a worker killed mid-job, Redis
// restarted mid-run, malformed jobs, missing models, throwing models,
// abort, SIGTERM, and the checks made before any work.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Queue } from 'bullmq';

import { ForwardEvaluationError, ForwardModel, NavierStokes2D } from '../lib';
import { maskPassword, parseRedisUrl } from '../lib/forward/redis';
import { CLI, leftovers, REDIS_SERVER, RedisServer, startRedis, startWorker, waitFor, WorkerProcess } from './helpers/redis';

const ready = REDIS_SERVER !== undefined && fs.existsSync(CLI);
if (!ready) console.warn('Skipping the queue checks: redis-server or dist/ (npm run build:ts) is missing');

/** Deterministic fields in normalized units (smooth enough for the solver at 32x32). */
function fields(batch: number, R: number, seed: number): Float32Array {
  const x = new Float32Array(batch * R * R);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) {
        x[(b * R + i) * R + j] = 0.4 * Math.sin(2 * Math.PI * (i + b + seed) / R) * Math.cos(2 * Math.PI * (j * (1 + (b % 3))) / R);
      }
    }
  }
  return x;
}

/**
 * A module model for `enkg worker --model`: y = [sum of the field, 2 x its
 * first value, row index] in float64 then float32, so the test's reference
 * is independent of the code under test. Options through the environment:
 * a marker file written when a particle starts, a delay per particle, and a
 * row index that throws.
 */
const MODULE_SOURCE = `
const fs = require('node:fs');
module.exports = function sumModel(field, index) {
  if (process.env.SUM_MARKER) fs.appendFileSync(process.env.SUM_MARKER, index + '\\n');
  if (process.env.SUM_DELAY_MS) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.env.SUM_DELAY_MS));
  if (String(index) === process.env.SUM_THROW_AT) throw new Error('boom at ' + index);
  let s = 0;
  for (let k = 0; k < field.length; k++) s += field[k];
  return [s, 2 * field[0], index];
};`;
const BATCHED_THROWING_SOURCE = "module.exports = function () { throw new RangeError('the simulator is not configured'); };";

/** enkg worker's progress line; the groups after the time are numbers (see the test that reads it). */
const PROGRESS_LINE = new RegExp(String.raw`enkg worker: (\S+) last ([\d.]+) s: (\d+) jobs, (\d+) particles \(([\d.]+)/s, (\d+) failed\), `
  + String.raw`(\d+) jobs refused, (\d+) skipped \(coordinator gone\), idle ([\d.]+) s, (\d+) in hand; `
  + String.raw`since start: (\d+) jobs, (\d+) particles \((\d+) failed\), (\d+) refused, (\d+) skipped$`, 'gm');

/** The progress lines a worker printed, as numbers: see PROGRESS_FIELDS. */
function progressLines(output: string): number[][] {
  return [...output.matchAll(PROGRESS_LINE)].map((m) => m.slice(2).map(Number));
}
const PROGRESS_FIELDS = ['seconds', 'jobs', 'particles', 'rate', 'failed', 'refused', 'skipped', 'idle', 'inHand',
  'totalJobs', 'totalParticles', 'totalFailed', 'totalRefused', 'totalSkipped'] as const;
/** The progress line's figures by name. */
const progressOf = (line: number[]) => Object.fromEntries(PROGRESS_FIELDS.map((k, i) => [k, line[i]])) as Record<typeof PROGRESS_FIELDS[number], number>;

function sumReference(x: Float32Array, batch: number, d: number): Float32Array {
  const y = new Float32Array(batch * 3);
  for (let b = 0; b < batch; b++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[b * d + k];
    y.set([s, 2 * x[b * d], b], b * 3);
  }
  return y;
}

(ready ? describe : describe.skip)('ForwardModel.fromQueue with enkg worker processes', () => {
  let redis: RedisServer;
  let dir: string;
  let sumModule: string;
  const workers: WorkerProcess[] = [];
  const start = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const w = await startWorker(args, env);
    workers.push(w);
    return w;
  };
  beforeAll(async () => {
    redis = await startRedis({ appendonly: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-queue-'));
    sumModule = path.join(dir, 'sum.js');
    fs.writeFileSync(sumModule, MODULE_SOURCE);
    fs.writeFileSync(path.join(dir, 'throwing.js'), BATCHED_THROWING_SOURCE);
  }, 30000);
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.kill()));
  }, 30000);
  afterAll(async () => {
    await redis?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30000);

  it('Navier-Stokes through the queue with 3 worker processes gives the in-process measurements bit for bit, and leaves no key or job', async () => {
    const args = ['--redis', redis.url, '--queue', 'ns', '--model', 'navier-stokes', '--lock-ms', '2000'];
    await Promise.all([start(args), start(args), start(args)]);
    const ns = new NavierStokes2D({ resolution: 32, time: 0.25, backend: 'cpu' });
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'ns', model: ns, chunk: 3, timeoutMs: 60000 });
    try {
      const x = fields(10, 32, 1);
      const y = await model.forward(x, 10);
      const reference = await ns.forward(x, 10);
      expect(Buffer.from(y.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
      expect(model.lastCall).toMatchObject({ jobs: 4, bytesSent: 10 * 32 * 32 * 4, bytesReceived: 10 * 16 * 16 * 4 });
      expect(await leftovers(redis.url, 'ns')).toEqual({ dataKeys: [], jobs: 0 });
    } finally {
      await model.dispose();
    }
  }, 120000);

  it('a worker killed with SIGKILL mid-job: another takes the job over after the stall interval, every row counted once', async () => {
    const marker = path.join(dir, 'kill-marker');
    const args = ['--redis', redis.url, '--queue', 'kill', '--model', sumModule, '--lock-ms', '1000'];
    const first = await start(args, { SUM_MARKER: marker, SUM_DELAY_MS: '400' });
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'kill', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3, chunk: 4, timeoutMs: 60000 });
    try {
      const x = fields(8, 4, 2);
      const running = model.forward(x, 8);
      await waitFor(() => fs.existsSync(marker), 20000, 'the first particle to start');
      first.child.kill('SIGKILL');
      await first.exited;
      const second = await start(args);
      const y = await running;
      expect(Array.from(y)).toEqual(Array.from(sumReference(x, 8, 16)));
      expect(model.lastCall!.jobs).toBe(2);
      expect(model.lastCall!.evaluateMs).toHaveLength(2); // two chunks gathered, not three
      expect(second.output()).toMatch(/serving model 'sum'/);
      expect(await leftovers(redis.url, 'kill')).toEqual({ dataKeys: [], jobs: 0 });
    } finally {
      await model.dispose();
    }
  }, 120000);

  it('Redis restarted mid-run (append-only file): the call completes with the right rows or fails with a clear error, never hangs', async () => {
    const marker = path.join(dir, 'restart-marker');
    await start(['--redis', redis.url, '--queue', 'restart', '--model', sumModule, '--lock-ms', '2000'], { SUM_MARKER: marker, SUM_DELAY_MS: '150' });
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'restart', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3, chunk: 2, timeoutMs: 40000 });
    try {
      const x = fields(12, 4, 3);
      const running = model.forward(x, 12).then((y) => ({ y }), (error: Error) => ({ error }));
      await waitFor(() => fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').split('\n').length > 3, 20000, 'a few particles');
      await redis.restart();
      const outcome = await running;
      if ('y' in outcome) {
        expect(Array.from(outcome.y)).toEqual(Array.from(sumReference(x, 12, 16)));
      } else {
        expect(outcome.error.message).toMatch(/no longer in Redis|timed out after \d+ ms with \d+ of 6 jobs unfinished|Redis/);
      }
      // Either way the model is usable afterwards.
      const again = await model.forward(x.subarray(0, 2 * 16), 2);
      expect(Array.from(again)).toEqual(Array.from(sumReference(x, 2, 16)));
    } finally {
      await model.dispose();
    }
  }, 120000);

  it('the event loop keeps turning while a call of N = 2048 fields of 64x64 goes out and comes back', async () => {
    fs.writeFileSync(path.join(dir, 'first.js'), 'module.exports = (x, batch) => { const d = x.length / batch; return Float32Array.from({ length: batch }, (_, b) => x[b * d]); };');
    await start(['--redis', redis.url, '--queue', 'loop', '--model', path.join(dir, 'first.js'), '--batched']);
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'loop', model: 'first', fieldShape: [1, 64, 64], measurementSize: 1, timeoutMs: 60000 });
    try {
      const N = 2048, d = 64 * 64;
      const x = new Float32Array(N * d);
      for (let b = 0; b < N; b++) x[b * d] = b;
      await model.connect();
      let ticks = 0;
      const timer = setInterval(() => { ticks++; }, 10);
      const started = Date.now();
      const y = await model.forward(x, N);
      const elapsed = Date.now() - started;
      clearInterval(timer);
      expect(Array.from(y)).toEqual(Array.from({ length: N }, (_, b) => b));
      expect(model.lastCall!.jobs).toBe(32);
      expect(elapsed).toBeGreaterThan(100);
      // A loop blocked for most of the call would fire the interval a few times at most.
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 10 / 4));
    } finally {
      await model.dispose();
    }
  }, 60000);

  it('a model that throws fails its particles with the reason, and the worker stays up', async () => {
    await start(['--redis', redis.url, '--queue', 'throws', '--model', sumModule], { SUM_THROW_AT: '5' });
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'throws', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3, chunk: 4, timeoutMs: 30000 });
    try {
      const x = fields(8, 4, 4);
      const error = await model.forward(x, 8).catch((e: unknown) => e) as ForwardEvaluationError;
      expect(error).toBeInstanceOf(ForwardEvaluationError);
      expect(error.failures).toEqual([{ index: 5, reason: 'threw Error: boom at 5' }]);
      const reference = sumReference(x, 8, 16);
      reference.fill(NaN, 15, 18);
      expect(Array.from(error.partial)).toEqual(Array.from(reference));
      // The worker is still serving: a call without the failing row completes.
      expect(Array.from(await model.forward(x.subarray(0, 4 * 16), 4))).toEqual(Array.from(sumReference(x, 4, 16)));
    } finally {
      await model.dispose();
    }
  }, 60000);

  it('a coordinator started again with the same run id gets its own results, never the jobs of the one before', async () => {
    await start(['--redis', redis.url, '--queue', 'reuse', '--model', sumModule], { SUM_DELAY_MS: '300' });
    const options = { connection: redis.url, queue: 'reuse', model: 'sum', fieldShape: [1, 4, 4] as [number, number, number], measurementSize: 3, chunk: 4, timeoutMs: 30000, runId: 'same' };
    const x1 = fields(8, 4, 1), x2 = fields(8, 4, 2);
    // The first coordinator stops while the worker holds its first job: that job completes with x1's rows, ungathered,
    // as a coordinator that died would leave it.
    const first = ForwardModel.fromQueue(options);
    const controller = new AbortController();
    try {
      const call = first.forward(x1, 8, { signal: controller.signal });
      setTimeout(() => controller.abort(), 1000);
      await expect(call).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 4000));
    } finally {
      await first.dispose();
    }
    // The second one's call counter starts at 1 too: without a per-instance token its job ids would be the first one's.
    const second = ForwardModel.fromQueue(options);
    try {
      expect(Array.from(await second.forward(x2, 8))).toEqual(Array.from(sumReference(x2, 8, 16)));
    } finally {
      await second.dispose();
    }
  }, 60000);

  it('a batched model that throws outright fails every particle of its chunks with the message', async () => {
    await start(['--redis', redis.url, '--queue', 'batched', '--model', path.join(dir, 'throwing.js'), '--batched']);
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'batched', model: 'throwing', fieldShape: [1, 2, 2], measurementSize: 1, chunk: 2, timeoutMs: 30000 });
    try {
      const error = await model.forward(new Float32Array(3 * 4), 3).catch((e: unknown) => e) as ForwardEvaluationError;
      expect(error).toBeInstanceOf(ForwardEvaluationError);
      expect(error.failures.map((f) => f.index)).toEqual([0, 1, 2]);
      expect(error.failures[0].reason).toMatch(/^model 'throwing' threw RangeError: the simulator is not configured on worker \S+:\d+$/);
    } finally {
      await model.dispose();
    }
  }, 60000);

  it('a worker without the requested model fails the particles naming both models, and stays up', async () => {
    const w = await start(['--redis', redis.url, '--queue', 'other', '--model', sumModule]);
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'other', model: 'heat', fieldShape: [1, 4, 4], measurementSize: 3, chunk: 8, timeoutMs: 30000 });
    try {
      const error = await model.forward(fields(3, 4, 5), 3).catch((e: unknown) => e) as ForwardEvaluationError;
      expect(error).toBeInstanceOf(ForwardEvaluationError);
      expect(error.failures).toHaveLength(3);
      expect(error.failures[0].reason).toMatch(/^its job \w+\.\w+\.1\.0 failed on queue 'other' after 1 attempt\(s\): worker .* evaluates model 'sum', not 'heat' \(start enkg worker --model heat on its own queue\)$/);
      expect(Array.from(error.partial).every(Number.isNaN)).toBe(true);
      expect(w.child.exitCode).toBeNull();
      expect(await leftovers(redis.url, 'other')).toEqual({ dataKeys: [], jobs: 0 });
    } finally {
      await model.dispose();
    }
  }, 60000);

  it('a job with a malformed payload fails at once with the field named, and the worker goes on with the next', async () => {
    const w = await start(['--redis', redis.url, '--queue', 'malformed', '--model', sumModule]);
    const queue = new Queue('malformed', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const good = { v: 1, model: 'sum', options: {}, fieldShape: [1, 4, 4], measurementSize: 3, first: 0, n: 2, input: 'enkg:malformed:x', output: 'enkg:malformed:y' };
      const bad1 = await queue.add('forward', { ...good, n: 'two' }, { attempts: 3 });
      const bad2 = await queue.add('forward', good, { attempts: 3 }); // its fields were never stored
      await waitFor(async () => (await bad1.getState()) === 'failed' && (await bad2.getState()) === 'failed', 20000, 'the malformed jobs to fail');
      const [f1, f2] = await Promise.all([queue.getJob(bad1.id!), queue.getJob(bad2.id!)]);
      expect(f1!.failedReason).toBe(`malformed job ${bad1.id}: Expected an integer >= 1 for the job's n but received 'two'`);
      expect(f1!.attemptsMade).toBe(1); // not retried
      expect(f2!.failedReason).toBe(`the fields of job ${bad2.id} (key enkg:malformed:x) are missing from Redis`);
      const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'malformed', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3, timeoutMs: 30000 });
      const x = fields(2, 4, 6);
      expect(Array.from(await model.forward(x, 2))).toEqual(Array.from(sumReference(x, 2, 16)));
      await model.dispose();
      expect(w.child.exitCode).toBeNull();
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  }, 60000);

  it('an abort rejects with an AbortError and removes the call\'s waiting jobs and keys', async () => {
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'abort', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3, chunk: 2, timeoutMs: 30000 });
    const queue = new Queue('abort', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const controller = new AbortController();
      const running = model.forward(fields(6, 4, 7), 6, { signal: controller.signal }).catch((e: Error) => e);
      await waitFor(async () => (await queue.getWaitingCount()) === 3, 10000, 'the jobs to be queued');
      controller.abort();
      const error = await running as Error;
      expect(error.name).toBe('AbortError');
      expect(error.message).toBe('The forward evaluation was aborted');
      expect(await queue.getWaitingCount()).toBe(0);
      expect(await leftovers(redis.url, 'abort')).toEqual({ dataKeys: [], jobs: 0 });
    } finally {
      await queue.close();
      await model.dispose();
    }
  }, 60000);

  it('the progress line (--progress-ms): jobs, particles, failures, refusals, rate and idle time add up to what the worker was given', async () => {
    const w = await start(['--redis', redis.url, '--queue', 'progress', '--model', sumModule, '--progress-ms', '600'],
      { SUM_DELAY_MS: '100', SUM_THROW_AT: '5' });
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'progress', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3, chunk: 4, timeoutMs: 30000 });
    const queue = new Queue('progress', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      // Three jobs of 4, 4 and 2 particles, one of which fails; then one job for another model, refused.
      const error = await model.forward(fields(10, 4, 9), 10).catch((e: unknown) => e) as ForwardEvaluationError;
      expect(error.failures.map((f) => f.index)).toEqual([5]);
      const other = await queue.add('forward', { v: 1, model: 'heat', options: {}, fieldShape: [1, 4, 4], measurementSize: 3, first: 0, n: 2,
        input: 'enkg:progress:x', output: 'enkg:progress:y' });
      await waitFor(async () => (await other.getState()) === 'failed', 20000, 'the job for another model to fail');
      await waitFor(() => /since start: 3 jobs, 10 particles \(1 failed\), 1 refused, 0 skipped$/m.test(w.output()), 20000, 'a progress line with every job');
      const lines = progressLines(w.output()).map(progressOf);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      const sum = (k: keyof ReturnType<typeof progressOf>) => lines.reduce((s, l) => s + l[k], 0);
      expect([sum('jobs'), sum('particles'), sum('failed'), sum('refused'), sum('skipped')]).toEqual([3, 10, 1, 1, 0]);
      const last = lines[lines.length - 1];
      expect([last.totalJobs, last.totalParticles, last.totalFailed, last.totalRefused, last.totalSkipped]).toEqual([3, 10, 1, 1, 0]);
      let busy = 0;
      for (const { seconds, particles, rate, idle, inHand } of lines) {
        expect(seconds).toBeGreaterThanOrEqual(0.5);
        expect(Math.abs(rate - particles / seconds)).toBeLessThanOrEqual(0.1 * particles / seconds + 0.01);
        expect(idle).toBeLessThanOrEqual(seconds + 0.05);
        if (particles === 0 && inHand === 0) expect(idle).toBeCloseTo(seconds, 0);
        busy += seconds - idle;
      }
      // Ten particles of at least 100 ms each were evaluated one after the other.
      expect(busy).toBeGreaterThanOrEqual(0.9);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      await model.dispose();
    }
  }, 60000);

  it('a coordinator killed with SIGKILL mid-call: once its heartbeat lapses the worker skips its waiting jobs unevaluated and deletes their fields; a new run on the queue is served', async () => {
    const marker = path.join(dir, 'dead-marker');
    const w = await start(['--redis', redis.url, '--queue', 'dead', '--model', sumModule, '--progress-ms', '500'], { SUM_MARKER: marker, SUM_DELAY_MS: '1000' });
    const script = path.join(dir, 'coordinator.js');
    fs.writeFileSync(script, `const { ForwardModel } = require(${JSON.stringify(path.dirname(path.dirname(CLI)))});
const model = ForwardModel.fromQueue({ connection: process.argv[2], queue: 'dead', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3,
  chunk: 1, heartbeatMs: 1000, timeoutMs: 60000 });
model.forward(new Float32Array(8 * 16).fill(1), 8).then(() => process.exit(0), () => process.exit(1));`);
    const coordinator = spawn(process.execPath, [script, redis.url], { stdio: 'ignore' });
    const exited = new Promise((resolve) => coordinator.on('exit', (_code, signal) => resolve(signal)));
    const queue = new Queue('dead', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      await waitFor(() => fs.existsSync(marker), 20000, 'the first job to start');
      coordinator.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      await waitFor(() => progressLines(w.output()).map(progressOf).some((l) => l.totalJobs + l.totalSkipped === 8 && l.inHand === 0),
        30000, 'every job to be evaluated or skipped');
      const last = progressOf(progressLines(w.output()).pop()!);
      const evaluated = fs.readFileSync(marker, 'utf8').trim().split('\n').length;
      // The job in hand at the kill, and at most one or two taken before the heartbeat (1 s) lapsed, were evaluated; the rest skipped.
      expect(last.totalJobs).toBe(evaluated);
      expect(evaluated).toBeLessThanOrEqual(3);
      expect(last.totalSkipped).toBe(8 - evaluated);
      expect(w.output()).toMatch(/enkg worker: skipping jobs \w+\.\w+\.1\.\*: their coordinator is gone \(its heartbeat enkg:dead:\w+\.\w+\.1:alive has lapsed\)/);
      const failed = await queue.getFailed();
      expect(failed).toHaveLength(8 - evaluated);
      for (const job of failed) {
        expect(job.failedReason).toMatch(new RegExp(String.raw`^coordinator gone: job \w+\.\w+\.1\.\d+ was skipped without evaluation on worker \S+, `
          + String.raw`its coordinator's heartbeat enkg:dead:\w+\.\w+\.1:alive having lapsed; its fields were deleted$`));
      }
      // Left in Redis: the fields and measurements of the evaluated jobs only (nobody gathered them; they expire), no heartbeat.
      const { dataKeys } = await leftovers(redis.url, 'dead');
      expect(dataKeys.filter((k) => k.endsWith(':x'))).toHaveLength(evaluated);
      expect(dataKeys.filter((k) => k.endsWith(':y'))).toHaveLength(evaluated);
      expect(dataKeys).toHaveLength(2 * evaluated);
      // A new coordinator on the same queue is served as usual.
      const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'dead', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3, chunk: 1, timeoutMs: 30000 });
      try {
        const x = fields(2, 4, 10);
        expect(Array.from(await model.forward(x, 2))).toEqual(Array.from(sumReference(x, 2, 16)));
      } finally {
        await model.dispose();
      }
    } finally {
      if (coordinator.exitCode === null && coordinator.signalCode === null) coordinator.kill('SIGKILL');
      await queue.obliterate({ force: true });
      await queue.close();
    }
  }, 90000);

  it('a live coordinator whose heartbeat lapsed (its event loop stalled) gets its skipped jobs back: it sends them again and the call completes with every row', async () => {
    const marker = path.join(dir, 'stall-marker');
    const w = await start(['--redis', redis.url, '--queue', 'stall', '--model', sumModule, '--progress-ms', '500'], { SUM_MARKER: marker, SUM_DELAY_MS: '1500' });
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'stall', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3,
      chunk: 1, heartbeatMs: 1000, timeoutMs: 60000 });
    try {
      const x = fields(3, 4, 11);
      const running = model.forward(x, 3);
      await waitFor(() => fs.existsSync(marker), 20000, 'the first job to start');
      // This process (the coordinator) stops for 2.5 s: no renewal reaches Redis, the heartbeat
      // lapses while the first job runs, and the worker skips the next ones as a dead coordinator's.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
      const y = await running;
      expect(Array.from(y)).toEqual(Array.from(sumReference(x, 3, 16)));
      const resubmitted = model.lastCall!.resubmitted;
      expect(resubmitted).toBeGreaterThanOrEqual(1);
      await waitFor(() => new RegExp(String.raw`since start: 3 jobs, 3 particles \(0 failed\), 0 refused, ${resubmitted} skipped$`, 'm').test(w.output()),
        10000, 'a progress line with the skipped jobs evaluated after all');
      expect(fs.readFileSync(marker, 'utf8').trim().split('\n').map(Number).sort()).toEqual([0, 1, 2]);
      expect(await leftovers(redis.url, 'stall')).toEqual({ dataKeys: [], jobs: 0 });
    } finally {
      await model.dispose();
    }
  }, 60000);

  it('SIGTERM: the worker finishes the job in hand, stores its result and exits 143', async () => {
    const marker = path.join(dir, 'term-marker');
    const w = await start(['--redis', redis.url, '--queue', 'term', '--model', sumModule], { SUM_MARKER: marker, SUM_DELAY_MS: '300' });
    const model = ForwardModel.fromQueue({ connection: redis.url, queue: 'term', model: 'sum', fieldShape: [1, 4, 4], measurementSize: 3, chunk: 4, timeoutMs: 30000 });
    try {
      const x = fields(4, 4, 8);
      const running = model.forward(x, 4);
      await waitFor(() => fs.existsSync(marker), 20000, 'the job to start');
      w.child.kill('SIGTERM');
      expect(Array.from(await running)).toEqual(Array.from(sumReference(x, 4, 16)));
      const { code } = await w.exited;
      expect(code).toBe(143);
      expect(w.output()).toMatch(/enkg worker: stopped by SIGTERM; the jobs in hand were finished \(1 jobs, 4 particles evaluated\)/);
    } finally {
      await model.dispose();
    }
  }, 60000);

  it('the checks before any work: an unreachable server, a wrong password and a Redis that evicts are refused by name', async () => {
    const evicting = await startRedis({ maxmemoryPolicy: 'allkeys-lru' });
    const locked = await startRedis({ password: 's3cret' });
    try {
      const connect = async (connection: string) => {
        const model = ForwardModel.fromQueue({ connection, queue: 'q', model: 'sum', fieldShape: [1, 1, 1], measurementSize: 1 });
        try {
          await model.connect();
        } finally {
          await model.dispose();
        }
      };
      await expect(connect(`redis://127.0.0.1:${evicting.port}`)).rejects.toThrow(
        `Expected maxmemory-policy noeviction for Redis at redis://127.0.0.1:${evicting.port} but received 'allkeys-lru'`);
      await expect(connect(`redis://:wrong@127.0.0.1:${locked.port}`)).rejects.toThrow(
        new RegExp(`^Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${locked.port} refused the credentials: WRONGPASS`));
      const good = ForwardModel.fromQueue({ connection: `redis://:s3cret@127.0.0.1:${locked.port}`, queue: 'q', model: 'sum', fieldShape: [1, 1, 1], measurementSize: 1 });
      try {
        await expect(good.connect()).resolves.toBeUndefined();
      } finally {
        await good.dispose(); // a connected model's clients would keep the process alive
      }
      await evicting.stop();
      await expect(connect(`redis://127.0.0.1:${evicting.port}`)).rejects.toThrow(
        new RegExp(`^Could not reach Redis at redis://127\\.0\\.0\\.1:${evicting.port}: .*ECONNREFUSED`));
      const cli = spawnSync(process.execPath, [CLI, 'worker', '--redis', `redis://127.0.0.1:${evicting.port}`, '--queue', 'q', '--model', 'navier-stokes'],
        { encoding: 'utf8', timeout: 20000 });
      expect(cli.status).toBe(1);
      expect(cli.stderr).toMatch(new RegExp(`^enkg: Could not reach Redis at redis://127\\.0\\.0\\.1:${evicting.port}: `));
    } finally {
      await evicting.stop();
      await locked.stop();
    }
  }, 60000);
});

describe('fromQueue and enkg worker options', () => {
  it('a Redis URL\'s password never reaches a message or a label, also where the URL does not parse', () => {
    expect(maskPassword('redis://u:s3cret@h:7000/2')).toBe('redis://u:***@h:7000/2');
    expect(maskPassword('redis://u:pa/ss@h')).toBe('redis://u:***@h'); // a raw '/' in the password: masked with it
    expect(maskPassword('redis://u:p@ss@h')).toBe('redis://u:***@h');
    expect(maskPassword('redis://u@h/0')).toBe('redis://u@h/0'); // a user alone is no secret
    expect(parseRedisUrl('rediss://u:s3cret@h:7000/2', 'x').label).toBe('rediss://u:***@h:7000/2');
    expect(parseRedisUrl('redis://:s3cret@h/q', 'x', true)).toMatchObject({ label: 'redis://:***@h', queue: 'q', options: { password: 's3cret' } });
    expect(() => parseRedisUrl('redis://u:pa/ss@h', '--redis')).toThrow(
      "Expected a URL redis[s]://[user:password@]host[:port][/db] for --redis but received 'redis://u:***@h'");
  });

  it('bad options are refused by name before anything connects', () => {
    const shape = { fieldShape: [1, 2, 2] as [number, number, number], measurementSize: 1 };
    expect(() => ForwardModel.fromQueue({ connection: 'http://x', queue: 'q', model: 'm', ...shape })).toThrow(
      "Expected a URL redis[s]://[user:password@]host[:port][/db] for ForwardModel.fromQueue connection but received 'http://x'");
    // A refused URL is shown with its password masked.
    expect(() => ForwardModel.fromQueue({ connection: 'redis://u:s3cret@h/notadb', queue: 'q', model: 'm', ...shape })).toThrow(
      "Expected a URL redis[s]://[user:password@]host[:port][/db] for ForwardModel.fromQueue connection but received 'redis://u:***@h/notadb'");
    expect(() => ForwardModel.fromQueue({ connection: 'redis://h', queue: 'a:b', model: 'm', ...shape })).toThrow(
      "Expected a queue name (no ':') for ForwardModel.fromQueue queue but received 'a:b'");
    expect(() => ForwardModel.fromQueue({ connection: 'redis://h', queue: 'q', model: 'm', fieldShape: [1, 2, 2], measurementSize: 1, chunk: 0 })).toThrow(
      'Expected an integer >= 1 for ForwardModel.fromQueue chunk but received 0');
    expect(() => ForwardModel.fromQueue({ connection: 'redis://h', queue: 'q', model: 'm', ...shape, heartbeatMs: 500 })).toThrow(
      'Expected an integer >= 1000 for ForwardModel.fromQueue heartbeatMs but received 500');
    expect(() => ForwardModel.fromQueue({ connection: 'redis://h', queue: 'q', model: 'm' })).toThrow(
      "Expected [C, H, W], three integers >= 1 (a module's model needs its shape) for ForwardModel.fromQueue fieldShape but received undefined");
    expect(() => ForwardModel.fromQueue({ connection: 'redis://h', queue: 'q', model: { name: 'navier-stokes', options: { resolution: 5 } } })).toThrow(
      'Expected an even integer >= 4 for resolution but received 5');
    expect(() => ForwardModel.fromQueue({ connection: 'redis://h', queue: 'q', model: { name: 'm', options: { f: [1] as never } }, ...shape })).toThrow(
      'Expected a number, string or boolean (options travel as plain data) for ForwardModel.fromQueue model.options.f but received Array(1)');
    expect(() => ForwardModel.fromQueue({ connection: 'redis://h', queue: 'q', model: ForwardModel.fromFunction(() => 0, { ...shape }) })).toThrow(
      /^Expected a ForwardModel of a registered kind \(navier-stokes\), a model name or \{ name, options \} for ForwardModel.fromQueue model but received a \w+ \(workers cannot rebuild it from data/);
    const model = ForwardModel.fromQueue({ connection: 'rediss://u:p@h:7000/2', queue: 'q', model: { name: 'navier-stokes', options: { resolution: 16, downsample: 4 } } });
    expect(model.fieldShape).toEqual([1, 16, 16]);
    expect(model.measurementSize).toBe(16);
  });

  (fs.existsSync(CLI) ? it : it.skip)('enkg worker: a missing flag or an unknown model is a usage error (exit 2)', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'worker', ...args], { encoding: 'utf8', timeout: 20000 });
    const missing = run(['--queue', 'q', '--model', 'navier-stokes']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^enkg: --redis is required/);
    const unknown = run(['--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--model', 'nowhere.js']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("Expected navier-stokes or the path of a JavaScript module for --model but received 'nowhere.js' (no such file)");
    for (const bad of ['0', '1.5', 'soon']) {
      const progress = run(['--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--model', 'navier-stokes', '--progress-ms', bad]);
      expect(progress.status).toBe(2);
      expect(progress.stderr).toContain(`--progress-ms must be an integer >= 1, got '${bad}'`);
    }
    expect(run(['--help']).stdout).toMatch(/--progress-ms MS +a progress line on stderr this often \(default 60000\)/);
    const url = run(['--redis', 'localhost:6379', '--queue', 'q', '--model', 'navier-stokes']);
    expect(url.status).toBe(2);
    expect(url.stderr).toContain("Expected a URL redis[s]://[user:password@]host[:port][/db] for --redis but received 'localhost:6379'");
  });
});
