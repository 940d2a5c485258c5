// ForwardModel.fromCommand (lib/forward/command.ts) with a simulator that
// crashes, hangs, writes garbage, NaN or nothing, or is killed: each failure
// is listed with its cause, a run of EKI and EnKG completes under 'exclude',
// and no process it started (checked by PID, grandchildren included) nor
// temporary file is left behind.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { EKI, EnKG, ForwardEvaluationError, ForwardModel, GaussianRandomFieldPrior, ResampleFailures } from '../lib';

const SIMULATOR = path.join(__dirname, 'fixtures/forward/flaky-simulator.js');
const argv = [process.execPath, SIMULATOR, '{input}', '{output}'];
const fieldShape: [number, number, number] = [1, 4, 4];
const d = 16, m = 3;
// Long enough that a healthy run (a Node start, ~0.4 s on a loaded 2-core
// machine) never reaches it, or it would be a failure the simulator did not
// choose; each hanging run costs this much.
const TIMEOUT_MS = 10000;

interface LogEntry { pid: number; mode: number; n: number; dir: string; child?: number; failedFirst?: boolean }

let scratch: string;
beforeAll(() => { scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-command-test-')); });
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function logFile(name: string): string {
  return path.join(scratch, `${name}.log`);
}

function readLog(file: string): LogEntry[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as LogEntry);
}

/** Whether pid is a live process (a zombie awaiting its reaper counts as ended). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Every process the simulator logged (and every child it started) has ended, and every input folder is gone. */
function expectNothingLeft(entries: LogEntry[]): void {
  const pids = entries.flatMap((e) => (e.child === undefined ? [e.pid] : [e.pid, e.child]));
  expect(pids.filter(alive)).toEqual([]);
  const dirs = [...new Set(entries.map((e) => e.dir))];
  expect(dirs.filter((dir) => fs.existsSync(dir))).toEqual([]);
}

/** A field whose first value makes the simulator take `mode`; the rest varies with `seed`. */
function field(mode: number, seed: number): number[] {
  return Array.from({ length: d }, (_, j) => (j === 0 ? (mode + 0.5) / 1e4 : Math.cos(0.7 * j + seed)));
}

/** G(x) = [mean, mean of squares, last] in float64. */
function reference(x: ArrayLike<number>): number[] {
  const row = Array.from(x);
  return [row.reduce((a, b) => a + b, 0) / d, row.reduce((a, b) => a + b * b, 0) / d, row[d - 1]];
}

/** The reason fromCommand gives for each of the simulator's failing modes. */
const REASONS: Record<number, RegExp> = {
  1: /^the command \S+ \(pid (\d+)\) exited with code 3: simulated crash: the solver diverged$/,
  2: /^the command \S+ \(pid (\d+)\) timed out after 10000 ms; its process group was killed$/,
  3: /^the command \S+ \(pid (\d+)\) exited with 0 but wrote a malformed output file: its output file is not a \.npy file/,
  4: /^the command \S+ \(pid (\d+)\) exited with 0 but wrote a non-finite value \(NaN\) at measurement 0$/,
  5: /^the command \S+ \(pid (\d+)\) exited with 0 but wrote no output file$/,
  6: /^the command \S+ \(pid (\d+)\) was killed by SIGKILL$/,
};

/**
 * Checks a list of failures against the simulator's log: every run in a
 * failing mode appears once per particle it held, with that mode's reason and
 * that run's pid, and nothing else does.
 */
function expectFailuresMatchLog(failures: Array<{ reason: string }>, entries: LogEntry[]): void {
  const failing = entries.filter((e) => REASONS[e.mode] !== undefined);
  const byPid = new Map(failing.map((e) => [e.pid, e]));
  for (const f of failures) {
    const pid = Number(/\(pid (\d+)\)/.exec(f.reason)?.[1]);
    const entry = byPid.get(pid);
    if (entry === undefined) throw new Error(`a failure the simulator did not choose (no failing mode logged for its pid): ${f.reason}`);
    expect(f.reason).toMatch(REASONS[entry!.mode]);
  }
  expect(failures.length).toBe(failing.reduce((s, e) => s + e.n, 0));
}

describe('ForwardModel.fromCommand', () => {
  it('fails each misbehaving run with its cause and keeps the good rows; no process or temporary file is left', async () => {
    const log = logFile('modes');
    const rows = [0, 1, 2, 3, 4, 5, 6, 0].map((mode, n) => field(mode, n));
    const x = Float32Array.from(rows.flat());
    const model = ForwardModel.fromCommand(argv, { fieldShape, measurementSize: m, concurrency: 4, timeoutMs: TIMEOUT_MS, env: { FLAKY_LOG: log } });
    const error = await model.forward(x, 8).then(() => undefined, (e: unknown) => e) as ForwardEvaluationError;
    expect(error).toBeInstanceOf(ForwardEvaluationError);
    expect(error.failures.map((f) => f.index)).toEqual([1, 2, 3, 4, 5, 6]);
    error.failures.forEach((f) => expect(f.reason).toMatch(REASONS[f.index]));
    expect(error.message).toMatch(/^6 of 8 forward evaluations failed \(particle 1: the command .* exited with code 3: .*; and 3 more\)$/);
    for (const n of [0, 7]) {
      const want = reference(x.subarray(n * d, (n + 1) * d));
      want.forEach((v, k) => expect(error.partial[n * m + k]).toBeCloseTo(v, 5));
    }
    for (let n = 1; n < 7; n++) expect(Array.from(error.partial.subarray(n * m, (n + 1) * m))).toEqual([NaN, NaN, NaN]);
    const entries = readLog(log);
    expect(entries.length).toBe(8);
    expect(entries.find((e) => e.mode === 2)?.child).toBeGreaterThan(0);
    expectFailuresMatchLog(error.failures, entries);
    expectNothingLeft(entries);
  });

  it('per chunk: one process per chunkSize particles, the same rows; a chunk whose run fails fails all its particles', async () => {
    const log = logFile('chunks');
    const good = Float32Array.from([0, 7, 8, 9, 10, 11, 12].flatMap((mode, n) => field(mode, n)));
    const model = ForwardModel.fromCommand(argv, { fieldShape, measurementSize: m, concurrency: 2, chunkSize: 3, env: { FLAKY_LOG: log } });
    const y = await model.forward(good, 7);
    for (let n = 0; n < 7; n++) reference(good.subarray(n * d, (n + 1) * d)).forEach((v, k) => expect(y[n * m + k]).toBeCloseTo(v, 5));
    expect(readLog(log).map((e) => e.n).sort()).toEqual([1, 3, 3]);

    const bad = good.slice();
    bad.set(field(1, 3), 3 * d); // the first particle of the second chunk crashes its run
    const error = await model.forward(bad, 7).then(() => undefined, (e: unknown) => e) as ForwardEvaluationError;
    expect(error.failures.map((f) => f.index)).toEqual([3, 4, 5]);
    expect(new Set(error.failures.map((f) => f.reason)).size).toBe(1);
    expect(error.partial.subarray(0, 3 * m)).toEqual(y.subarray(0, 3 * m));
    expect(error.partial.subarray(6 * m)).toEqual(y.subarray(6 * m));
    expectNothingLeft(readLog(log));
  });

  it('retries: a run that fails once then succeeds counts as success with retries 1, and is reported with its run count with retries 0', async () => {
    const x = Float32Array.from([0, 7, 8].flatMap((mode, n) => field(mode, n)));
    const once = fs.mkdtempSync(path.join(scratch, 'once-'));
    const retried = ForwardModel.fromCommand(argv, { fieldShape, measurementSize: m, concurrency: 2, retries: 1, env: { FLAKY_FAIL_FIRST: once } });
    const y = await retried.forward(x, 3);
    for (let n = 0; n < 3; n++) reference(x.subarray(n * d, (n + 1) * d)).forEach((v, k) => expect(y[n * m + k]).toBeCloseTo(v, 5));

    const fresh = fs.mkdtempSync(path.join(scratch, 'once-'));
    const single = ForwardModel.fromCommand(argv, { fieldShape, measurementSize: m, retries: 0, env: { FLAKY_FAIL_FIRST: fresh } });
    const error = await single.forward(x, 3).then(() => undefined, (e: unknown) => e) as ForwardEvaluationError;
    expect(error.failures.map((f) => f.index)).toEqual([0, 1, 2]);
    error.failures.forEach((f) => expect(f.reason).toMatch(/exited with code 4: first run on this data fails$/));
    const twice = ForwardModel.fromCommand(argv, { fieldShape, measurementSize: m, retries: 1, env: { FLAKY_FAIL_FIRST: fs.mkdtempSync(path.join(scratch, 'once-')) } });
    const crash = Float32Array.from(field(1, 0));
    const both = await twice.forward(crash, 1).then(() => undefined, (e: unknown) => e) as ForwardEvaluationError;
    expect(both.failures).toEqual([{ index: 0, reason: expect.stringMatching(/exited with code 3: simulated crash: the solver diverged \(run 2 of 2\)$/) }]);
  });

  it("reads each run's output before removing its files, however late the read gets its turn", async () => {
    // Under load the read of an output file can start after that run's
    // cleanup has begun (the CI flake "exited with 0 but wrote no output
    // file" for a run that wrote it). Here every read of a file waits for a
    // removal of that file already under way, so the order is forced.
    const { rm, readFile } = fs.promises;
    const removing = new Map<string, Promise<unknown>>();
    const rmSpy = jest.spyOn(fs.promises, 'rm').mockImplementation(((file: string, options?: fs.RmOptions) => {
      const done = rm(file, options);
      removing.set(String(file), done.catch(() => undefined));
      return done;
    }) as typeof rm);
    const readSpy = jest.spyOn(fs.promises, 'readFile').mockImplementation((async (file: string, options?: unknown) => {
      await new Promise((resolve) => setImmediate(resolve));
      await removing.get(String(file));
      return readFile(file, options as undefined);
    }) as typeof readFile);
    try {
      const x = Float32Array.from([0, 1, 2].flatMap((seed) => field(0, seed)));
      const model = ForwardModel.fromCommand(argv, { fieldShape, measurementSize: m, concurrency: 3, env: { FLAKY_MODES: 'off' } });
      const y = await model.forward(x, 3);
      for (let n = 0; n < 3; n++) reference(x.subarray(n * d, (n + 1) * d)).forEach((v, k) => expect(y[n * m + k]).toBeCloseTo(v, 5));
      expect(readSpy.mock.calls.map(([file]) => path.basename(String(file))).sort()).toEqual(['0-1.out.npy', '1-1.out.npy', '2-1.out.npy']);
    } finally {
      rmSpy.mockRestore();
      readSpy.mockRestore();
    }
  });

  it('an abort kills every running process group (children included) and removes the files before the call rejects', async () => {
    const log = logFile('abort');
    const x = Float32Array.from([2, 2, 2].flatMap((mode, n) => field(mode, n)));
    const model = ForwardModel.fromCommand(argv, { fieldShape, measurementSize: m, concurrency: 3, env: { FLAKY_LOG: log } });
    const controller = new AbortController();
    const pending = model.forward(x, 3, { signal: controller.signal });
    const deadline = Date.now() + 30000;
    while (readLog(log).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const entries = readLog(log);
    expect(entries.length).toBe(3);
    expect(entries.flatMap((e) => [e.pid, e.child!]).every(alive)).toBe(true);
    const started = Date.now();
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(5000);
    expectNothingLeft(entries);
  });

  it("a process that exits while its simulator runs takes the simulator's process group and files with it", async () => {
    const log = logFile('exit');
    const script = `
      const { ForwardModel } = require(${JSON.stringify(path.join(__dirname, '../lib'))});
      const fs = require('node:fs');
      const model = ForwardModel.fromCommand(${JSON.stringify(argv)}, { fieldShape: [1, 4, 4], measurementSize: 3, env: { FLAKY_LOG: ${JSON.stringify(log)} } });
      model.forward(Float32Array.from(${JSON.stringify(field(2, 0))}), 1).catch(() => {});
      const wait = setInterval(() => { if (fs.existsSync(${JSON.stringify(log)})) { clearInterval(wait); process.exit(0); } }, 20);`;
    await promisify(execFile)(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: path.join(__dirname, '..') });
    const entries = readLog(log);
    expect(entries.length).toBe(1);
    expect(entries[0].child).toBeGreaterThan(0);
    const deadline = Date.now() + 5000;
    while ((alive(entries[0].pid) || alive(entries[0].child!)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expectNothingLeft(entries);
  });

  it("a process killed by SIGKILL (no exit hook runs) still takes its simulators' process groups and files with it", async () => {
    const log = logFile('sigkill');
    const script = `
      const { ForwardModel } = require(${JSON.stringify(path.join(__dirname, '../lib'))});
      const model = ForwardModel.fromCommand(${JSON.stringify(argv)}, { fieldShape: [1, 4, 4], measurementSize: 3, concurrency: 2, env: { FLAKY_LOG: ${JSON.stringify(log)} } });
      model.forward(Float32Array.from(${JSON.stringify([...field(2, 0), ...field(2, 1)])}), 2).catch(() => {});
      setInterval(() => {}, 1000);`;
    const host = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: path.join(__dirname, '..'), stdio: 'ignore' });
    const gone = new Promise((resolve) => host.once('exit', resolve));
    const started = Date.now() + 30000;
    while (readLog(log).length < 2 && Date.now() < started) await new Promise((r) => setTimeout(r, 50));
    const entries = readLog(log);
    expect(entries.length).toBe(2);
    expect(entries.flatMap((e) => [e.pid, e.child!]).every(alive)).toBe(true);
    host.kill('SIGKILL');
    await gone;
    const deadline = Date.now() + 5000;
    while (entries.some((e) => alive(e.pid) || alive(e.child!) || fs.existsSync(e.dir)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expectNothingLeft(entries);
  });

  it('a program that cannot start rejects the call (not a particle failure), naming it', async () => {
    const model = ForwardModel.fromCommand(['/no/such/simulator', '{input}', '{output}'], { fieldShape, measurementSize: m, concurrency: 2 });
    const error = await model.forward(Float32Array.from([0, 0, 0].flatMap((mode, n) => field(mode, n))), 3).then(() => undefined, (e: unknown) => e);
    expect(error).not.toBeInstanceOf(ForwardEvaluationError);
    expect((error as Error).message).toBe('Cannot run /no/such/simulator: spawn /no/such/simulator ENOENT');
  });

  it('rejects bad argv and options with the house message, naming them', () => {
    const ok = { fieldShape, measurementSize: m };
    const what = 'Expected a non-empty array of strings whose arguments include {input} and {output} for ForwardModel.fromCommand argv';
    expect(() => ForwardModel.fromCommand('sim {input} {output}' as never, ok)).toThrow(`${what} but received 'sim {input} {output}'`);
    expect(() => ForwardModel.fromCommand(['sim', '--in={input}'], ok)).toThrow(`${what} but received ['sim', '--in={input}'] (no {output})`);
    expect(() => ForwardModel.fromCommand(argv, { ...ok, timeoutMs: 0 })).toThrow(
      'Expected a finite number > 0 for ForwardModel.fromCommand timeoutMs but received 0');
    expect(() => ForwardModel.fromCommand(argv, { ...ok, retries: -1 })).toThrow(
      'Expected an integer >= 0 for ForwardModel.fromCommand retries but received -1');
    expect(() => ForwardModel.fromCommand(argv, { ...ok, cwd: '/no/such/dir' })).toThrow(
      "Expected a path to a directory for ForwardModel.fromCommand cwd but received '/no/such/dir'");
    expect(() => ForwardModel.fromCommand(argv, { ...ok, env: { N: 3 } } as never)).toThrow(
      'Expected a string for ForwardModel.fromCommand env.N but received 3');
    expect(() => ForwardModel.fromCommand(argv, { ...ok, timeout: 5 } as never)).toThrow(
      "for an option of ForwardModel.fromCommand but received 'timeout'");
  });
});

describe('solving through a flaky simulator', () => {
  const prior = new GaussianRandomFieldPrior({ resolution: 4, alpha: 2, tau: 3 });
  const observation = Float32Array.from(reference(field(0, 1)));

  it.each([
    ['EKI', () => new EKI({ ensembleSize: 8, iterations: 3 })],
    ['EnKG', () => new EnKG({ ensembleSize: 8, steps: 6, updates: 1, guidanceScale: 0.5 })],
  ] as const)("%s completes under 'exclude' and lists every failure the simulator logged; no process is left", async (name, make) => {
    const log = logFile(`solve-${name}`);
    // One run in 32 per failing mode (6 of 32 fail): EKI leaves a failed
    // particle where it was, so it fails again; at 6 in 16 the ensemble
    // would run out of particles within three iterations.
    const forward = ForwardModel.fromCommand(argv, {
      fieldShape, measurementSize: m, concurrency: 4, timeoutMs: TIMEOUT_MS, env: { FLAKY_LOG: log, FLAKY_MODULUS: '32' },
    });
    const result = await make().solve({ prior, forward, observation }, { seed: 4, onForwardFailure: 'exclude' });
    const entries = readLog(log);
    expect(entries.length).toBe(result.cost.forwardEvaluations);
    expect(result.failures.length).toBeGreaterThan(0);
    // Several kinds of failure happened (seed 4: crashes, NaN and kills for
    // EKI; hangs, garbage, missing files too for EnKG).
    expect(new Set(entries.filter((e) => REASONS[e.mode] !== undefined).map((e) => e.mode)).size).toBeGreaterThanOrEqual(3);
    expectFailuresMatchLog(result.failures, entries);
    expect(result.particles.every(Number.isFinite)).toBe(true);
    expectNothingLeft(entries);
  });

  it.each([
    ['EKI', () => new EKI({ ensembleSize: 8, iterations: 3 })],
    ['EnKG', () => new EnKG({ ensembleSize: 8, steps: 6, updates: 1, guidanceScale: 0.5 })],
  ] as const)("%s completes under 'resample' at twice the failure rate, redrawing every failed particle", async (name, make) => {
    const log = logFile(`solve-resample-${name}`);
    // 6 of 16 runs fail: under 'exclude' EKI would keep failing the same
    // particles; resampled ones are redrawn from the survivors and go on.
    const forward = ForwardModel.fromCommand(argv, {
      fieldShape, measurementSize: m, concurrency: 4, timeoutMs: TIMEOUT_MS, env: { FLAKY_LOG: log, FLAKY_MODULUS: '16' },
    });
    const result = await make().solve({ prior, forward, observation },
      { seed: 4, onForwardFailure: new ResampleFailures({ minSuccessFraction: 0.25 }) });
    const entries = readLog(log);
    expect(entries.length).toBe(result.cost.forwardEvaluations);
    expect(result.failures.length).toBeGreaterThan(0);
    expectFailuresMatchLog(result.failures, entries);
    expect(result.failures.every((f) => f.resampled === true)).toBe(true);
    expect(result.particles.every(Number.isFinite)).toBe(true);
    expectNothingLeft(entries);
  });

  it('aborting a solve whose simulator hangs ends every run of it (children included) and its files within moments', async () => {
    const log = logFile('solve-abort');
    const forward = ForwardModel.fromCommand(argv, { fieldShape, measurementSize: m, concurrency: 3, env: { FLAKY_LOG: log } });
    const initial = Float32Array.from([0, 1, 2].flatMap((n) => field(2, n))); // every particle hangs
    const controller = new AbortController();
    const solving = new EKI({ ensembleSize: 3, iterations: 2, initial }).solve({ prior, forward, observation }, { signal: controller.signal });
    const deadline = Date.now() + 30000;
    while (readLog(log).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await expect(solving).rejects.toMatchObject({ name: 'AbortError' });
    // The solve stops waiting at once; the kills were sent before it
    // rejected, and the files go as the runs are reaped.
    const entries = readLog(log);
    expect(entries.length).toBe(3);
    const gone = () => entries.every((e) => !alive(e.pid) && !alive(e.child!)) && !fs.existsSync(entries[0].dir);
    while (!gone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expectNothingLeft(entries);
  });
});

describe('fromCommand scratch folders left by a killed host', () => {
  it('are removed by the next process that runs a command: those of dead processes only', async () => {
    const { spawn, spawnSync } = await import('node:child_process');
    const { sweepStaleScratch } = await import('../lib/forward/command');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-sweep-'));
    const live = spawn('sleep', ['30']);
    try {
      const dead = spawnSync('true').pid;
      const make = (name: string) => {
        fs.mkdirSync(path.join(tmp, name));
        fs.writeFileSync(path.join(tmp, name, 'x.bin'), 'rows');
      };
      // Folders of this host ('box-1'), of another host sharing the folder, and not scratch folders at all.
      make(`enkg-forward-box-1-${dead}-abc`);
      make(`enkg-forward-box-1-${live.pid}-def`);
      make(`enkg-forward-box-1-${process.pid}-ghi`);
      make('enkg-forward-box-1-notapid');
      make(`enkg-forward-other-${dead}-mno`);
      make(`other-${dead}-jkl`);
      fs.writeFileSync(path.join(tmp, `enkg-forward-box-1-${dead}-file`), 'not a folder');
      expect(await sweepStaleScratch(tmp, 'box-1')).toEqual([`enkg-forward-box-1-${dead}-abc`]);
      expect(fs.readdirSync(tmp).sort()).toEqual([
        `enkg-forward-box-1-${live.pid}-def`, `enkg-forward-box-1-${process.pid}-ghi`, 'enkg-forward-box-1-notapid',
        `enkg-forward-box-1-${dead}-file`, `enkg-forward-other-${dead}-mno`, `other-${dead}-jkl`,
      ].sort());
    } finally {
      live.kill();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
