// ForwardModel.fromCommand: an external program in any language, run once
// per particle or per chunk of particles through .npy files.
//
// The protocol (README, "Forward models from anywhere"): enkg writes the
// chunk's fields to {input}, a float32 .npy of shape [n, C, H, W], runs argv
// with {input} and {output} replaced by the two paths, and reads {output}, a
// float32 (or float64) .npy of shape [n, m], once the program exits with 0.
// A non-zero exit, a signal, a timeout, a missing or malformed output file,
// or non-finite values fail that chunk's particles (or that row), with the
// cause. Every program runs as the leader of its own process group, and the
// whole group is killed on a timeout, on abort, and once the leader exits,
// so nothing it started is left running.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { abortError } from '../abort';
import { decodeNpy, writeNpy } from '../io/npy';
import { ForwardModel, ForwardOptions, SampleFailure } from '../problems/forward-model';
import { expected, requirePositive } from '../validate';
import {
  AdapterShape, defaultConcurrency, forwardArgs, integerOption, readAdapterOptions, runQueue, settle,
} from './options';

export interface FromCommandOptions extends AdapterShape {
  /** Programs running at once (default: one per core). */
  concurrency?: number;
  /** Particles per run of the program (default 1). */
  chunkSize?: number;
  /** Per run: past it the process group is killed and the run fails (default: no limit). */
  timeoutMs?: number;
  /** Further runs of a chunk that failed, before its particles are reported failed (default 0). */
  retries?: number;
  /** The program's working directory (default: this process's). */
  cwd?: string;
  /** Variables added to this process's environment for the program. */
  env?: Record<string, string>;
}

export const INPUT_PLACEHOLDER = '{input}';
export const OUTPUT_PLACEHOLDER = '{output}';

const KEYS = ['concurrency', 'chunkSize', 'timeoutMs', 'retries', 'cwd', 'env'] as const;
/** The tail of a failed program's standard error kept for its failure reason. */
const STDERR_TAIL = 1000;

// Process groups of programs still running and the calls' scratch folders,
// ended and removed if this process exits first (the programs are detached,
// so nothing else would end them). A process killed by a signal it cannot
// handle (SIGKILL, the OOM killer) runs no exit hook: a reaper process,
// started with the first program, is told of each group and folder through
// a pipe, and when the pipe closes (this process is gone, however it ended)
// it ends the groups and removes the folders still listed.
const liveGroups = new Set<number>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const group of liveGroups) {
      try { killGroup(group); } catch { /* exiting: nothing more to do */ }
    }
    for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
  });
}

// The reaper: lines '+g PID', '-g PID', '+d DIR', '-d DIR' on its standard
// input; at its end (the host is gone) SIGKILL to each group listed, then
// each folder removed. Its own process group and session (detached), so
// that a Ctrl-C to the terminal, which the host may survive, does not end it.
const REAPER = `
const fs = require('node:fs');
const groups = new Set(), dirs = new Set();
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  for (let k = buffer.indexOf('\\n'); k >= 0; k = buffer.indexOf('\\n')) {
    const line = buffer.slice(0, k);
    buffer = buffer.slice(k + 1);
    const set = line[1] === 'g' ? groups : dirs, value = line[1] === 'g' ? Number(line.slice(3)) : line.slice(3);
    if (line[0] === '+') set.add(value); else set.delete(value);
  }
});
process.stdin.on('end', () => {
  for (const group of groups) { try { process.kill(-group, 'SIGKILL'); } catch {} }
  for (const dir of dirs) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch {} }
  process.exit(0);
});`;
let reaper: ChildProcess | undefined;
let reaperFailed = false;

/** Tells the reaper (started on first use; it holds neither this process's event loop nor its exit) a line. */
function tellReaper(line: string): void {
  if (reaperFailed) return;
  if (!reaper) {
    try {
      reaper = spawn(process.execPath, ['-e', REAPER], { stdio: ['pipe', 'ignore', 'ignore'], detached: true, env: {} });
    } catch {
      reaperFailed = true; // the exit hook still covers every exit but SIGKILL
      return;
    }
    reaper.on('error', () => { reaperFailed = true; });
    reaper.stdin!.on('error', () => { reaperFailed = true; });
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void }).unref?.();
  }
  reaper.stdin!.write(`${line}\n`);
}

function trackGroup(pid: number, live: boolean): void {
  if (live) liveGroups.add(pid); else liveGroups.delete(pid);
  tellReaper(`${live ? '+' : '-'}g ${pid}`);
}

function trackDir(dir: string, live: boolean): void {
  if (live) liveDirs.add(dir); else liveDirs.delete(dir);
  tellReaper(`${live ? '+' : '-'}d ${dir}`);
}

/**
 * Scratch folders are named by the host and process that made them
 * (enkg-forward-HOST-PID-*), so that a later process on the same host can
 * find those left by a killed one.
 */
const SCRATCH_PREFIX = 'enkg-forward-';
const scratchHost = os.hostname().replace(/[^A-Za-z0-9.]/g, '_');
let staleSwept = false;

/**
 * Removes, once per process, the scratch folders in `tmp` whose process is
 * gone: a host ended by a signal (SIGTERM, SIGKILL) never runs its exit
 * hook. Only folders of this host (a shared /tmp may hold other machines'
 * or containers' folders, whose process ids mean nothing here) and of this
 * user; a folder whose process id is alive is left alone (it may be
 * another enkg's, or the id may have been reused: the safe side).
 */
export async function sweepStaleScratch(tmp = os.tmpdir(), host = scratchHost): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.promises.readdir(tmp);
  } catch {
    return removed;
  }
  const prefix = `${SCRATCH_PREFIX}${host}-`;
  const uid = process.getuid?.();
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(\d+)-/.exec(name.slice(prefix.length));
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const full = path.join(tmp, name);
    const stat = await fs.promises.lstat(full).catch(() => undefined);
    if (!stat?.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue;
    await fs.promises.rm(full, { recursive: true, force: true }).then(() => removed.push(name), () => undefined);
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** SIGKILL to the process group `pid` leads; a group that is already gone is fine. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** How one run of the program ended. */
type RunEnd =
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null; stderr: string; pid: number }
  | { kind: 'timeout'; pid: number }
  | { kind: 'aborted' };

/** A program that could not be started at all: the model's configuration, not a particle, is wrong. */
class SpawnError extends Error {}

class CommandForward implements ForwardModel {
  readonly fieldShape: [number, number, number];
  readonly measurementSize: number;

  constructor(readonly argv: readonly string[], private readonly shape: AdapterShape, private readonly d: number,
    private readonly concurrency: number, private readonly chunkSize: number, private readonly timeoutMs: number | undefined,
    private readonly retries: number, private readonly cwd: string | undefined,
    private readonly env: Record<string, string> | undefined) {
    this.fieldShape = shape.fieldShape;
    this.measurementSize = shape.measurementSize;
  }

  async forward(x: Float32Array, batch: number, options?: ForwardOptions): Promise<Float32Array> {
    const args = forwardArgs(this.shape, this.d, x, batch, options);
    const { signal } = args;
    if (signal?.aborted) throw abortError(signal, 'The forward evaluation');
    const m = this.measurementSize;
    const chunks = Math.ceil(args.batch / this.chunkSize);
    const y = new Float32Array(args.batch * m).fill(NaN);
    const failures: SampleFailure[] = [];
    const running = new Set<ChildProcess>();
    let stopped = false;
    const stop = () => {
      stopped = true;
      for (const child of running) if (child.pid !== undefined) killGroup(child.pid);
    };
    signal?.addEventListener('abort', stop, { once: true });
    installExitHook();
    if (!staleSwept) {
      staleSwept = true;
      await sweepStaleScratch();
    }
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `${SCRATCH_PREFIX}${scratchHost}-${process.pid}-`));
    trackDir(dir, true);
    try {
      await runQueue(chunks, this.concurrency, async (c) => {
        const first = c * this.chunkSize, n = Math.min(this.chunkSize, args.batch - first);
        const fields = args.x.subarray(first * this.d, (first + n) * this.d);
        let rows: { y?: Float32Array; failures: SampleFailure[] } = { failures: [] };
        for (let attempt = 1; attempt <= this.retries + 1 && !stopped; attempt++) {
          try {
            rows = await this.runChunk(dir, `${c}-${attempt}`, fields, n, first, running, () => stopped);
          } catch (error) {
            stop(); // a program that cannot start, or a full disk: end the others now
            throw error;
          }
          if (stopped) return;
          if (this.retries > 0) for (const f of rows.failures) f.reason += ` (run ${attempt} of ${this.retries + 1})`;
          if (rows.failures.length === 0) break;
        }
        if (rows.y !== undefined) y.set(rows.y, first * m);
        failures.push(...rows.failures);
      }, () => stopped);
    } finally {
      signal?.removeEventListener('abort', stop);
      await fs.promises.rm(dir, { recursive: true, force: true });
      trackDir(dir, false);
    }
    if (signal?.aborted) throw abortError(signal, 'The forward evaluation');
    return settle(y, args.batch, m, failures);
  }

  /** One run of the program on n fields (rows first..first+n-1); its output rows and failures. */
  private async runChunk(dir: string, tag: string, fields: Float32Array, n: number, first: number,
    running: Set<ChildProcess>, stopped: () => boolean): Promise<{ y?: Float32Array; failures: SampleFailure[] }> {
    const input = path.join(dir, `${tag}.in.npy`), output = path.join(dir, `${tag}.out.npy`);
    const failAll = (reason: string) => ({
      failures: Array.from({ length: n }, (_, i) => ({ index: first + i, reason })),
    });
    try {
      await writeNpy(input, fields, [n, ...this.fieldShape]);
      if (stopped()) return { failures: [] };
      const end = await this.spawnOnce(input, output, running, stopped);
      const who = `the command ${this.argv[0]}`;
      if (end.kind === 'aborted') return { failures: [] };
      if (end.kind === 'timeout') {
        return failAll(`${who} (pid ${end.pid}) timed out after ${this.timeoutMs} ms; its process group was killed`);
      }
      const stderr = end.stderr.trim() ? `: ${end.stderr.trim().slice(-STDERR_TAIL)}` : '';
      if (end.signal !== null) return failAll(`${who} (pid ${end.pid}) was killed by ${end.signal}${stderr}`);
      if (end.code !== 0) return failAll(`${who} (pid ${end.pid}) exited with code ${end.code}${stderr}`);
      // Awaited here: a bare `return` of the promise would run the finally
      // (which removes the output) while the read is still on its way.
      return await this.readOutput(output, n, first, failAll, `${who} (pid ${end.pid}) exited with 0 but`);
    } finally {
      await Promise.all([fs.promises.rm(input, { force: true }), fs.promises.rm(output, { force: true })]);
    }
  }

  private async readOutput(output: string, n: number, first: number,
    failAll: (reason: string) => { failures: SampleFailure[] }, who: string): Promise<{ y?: Float32Array; failures: SampleFailure[] }> {
    const m = this.measurementSize;
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(output);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return failAll(`${who} wrote no output file`);
      throw error;
    }
    let contents;
    try {
      contents = decodeNpy(bytes, 'its output file');
    } catch (error) {
      return failAll(`${who} wrote a malformed output file: ${(error as Error).message}`);
    }
    const { data, shape, dtype } = contents;
    if (dtype !== '<f4' && dtype !== '<f8') {
      return failAll(`${who} wrote dtype '${dtype}'; expected float32 ('<f4') or float64 ('<f8')`);
    }
    if (shape.length !== 2 || shape[0] !== n || shape[1] !== m) {
      return failAll(`${who} wrote an output of shape (${shape.join(', ')}); expected (${n}, ${m})`);
    }
    const y = data instanceof Float32Array ? data : new Float32Array(data);
    const failures: SampleFailure[] = [];
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < m; k++) {
        if (!Number.isFinite(y[i * m + k])) {
          failures.push({ index: first + i, reason: `${who} wrote a non-finite value (${data[i * m + k]}) at measurement ${k}` });
          break;
        }
      }
    }
    return { y, failures };
  }

  /** Runs the program once; resolves when it and its process group are gone. */
  private spawnOnce(input: string, output: string, running: Set<ChildProcess>, stopped: () => boolean): Promise<RunEnd> {
    const argv = this.argv.map((a) => a.split(INPUT_PLACEHOLDER).join(input).split(OUTPUT_PLACEHOLDER).join(output));
    return new Promise<RunEnd>((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawn(argv[0], argv.slice(1), {
          cwd: this.cwd, env: this.env === undefined ? process.env : { ...process.env, ...this.env },
          detached: true, stdio: ['ignore', 'ignore', 'pipe'],
        });
      } catch (error) {
        reject(new SpawnError(`Cannot run ${argv[0]}: ${(error as Error).message}`));
        return;
      }
      let stderr = '';
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4 * STDERR_TAIL); });
      child.once('spawn', () => {
        running.add(child);
        trackGroup(child.pid as number, true);
        if (stopped()) killGroup(child.pid as number);
        if (this.timeoutMs !== undefined) {
          timer = setTimeout(() => { timedOut = true; killGroup(child.pid as number); }, this.timeoutMs);
        }
      });
      // The leader is gone: end what it left in its group (it holds no
      // resource of ours), so that 'close' is not kept waiting on its pipes.
      child.once('exit', () => { if (child.pid !== undefined) killGroup(child.pid); });
      child.once('error', (error) => {
        // 'error' without 'spawn': the program could not be started.
        if (child.pid === undefined || !running.has(child)) {
          clearTimeout(timer);
          reject(new SpawnError(`Cannot run ${argv[0]}${this.cwd ? ` in ${this.cwd}` : ''}: ${error.message}`));
        }
      });
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer);
        running.delete(child);
        if (child.pid !== undefined) trackGroup(child.pid, false);
        const pid = child.pid as number;
        if (stopped()) resolve({ kind: 'aborted' });
        else if (timedOut) resolve({ kind: 'timeout', pid });
        else resolve({ kind: 'exit', code, signal, stderr, pid });
      });
    });
  }
}

/**
 * A ForwardModel that runs the program argv (argv[0] is looked up in PATH;
 * no shell) once per chunk of `chunkSize` particles, `concurrency` at once,
 * through the .npy protocol described at the top of this file. A program
 * that cannot be started rejects the call; per-run failures fail only the
 * particles of that run (ForwardEvaluationError). Aborting kills every
 * running program's process group and rejects once they are gone; the
 * call's temporary files are always removed.
 */
export function fromCommand(argv: readonly string[], options: FromCommandOptions): ForwardModel {
  const owner = 'ForwardModel.fromCommand';
  const what = `a non-empty array of strings whose arguments include ${INPUT_PLACEHOLDER} and ${OUTPUT_PLACEHOLDER}`;
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string') || argv[0].length === 0) {
    throw new TypeError(expected(what, `${owner} argv`, argv));
  }
  for (const placeholder of [INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER]) {
    if (!argv.slice(1).some((a) => a.includes(placeholder))) {
      throw new TypeError(expected(what, `${owner} argv`, `[${argv.map((a) => `'${a}'`).join(', ')}] (no ${placeholder})`, true));
    }
  }
  const { options: o, shape, d } = readAdapterOptions(options, owner, KEYS);
  const timeoutMs = o.timeoutMs === undefined ? undefined : requirePositive(o.timeoutMs, `${owner} timeoutMs`);
  let cwd: string | undefined;
  if (o.cwd !== undefined) {
    if (typeof o.cwd !== 'string' || !fs.statSync(o.cwd, { throwIfNoEntry: false })?.isDirectory()) {
      throw new TypeError(expected('a path to a directory', `${owner} cwd`, o.cwd));
    }
    cwd = o.cwd;
  }
  let env: Record<string, string> | undefined;
  if (o.env !== undefined) {
    if (typeof o.env !== 'object' || o.env === null || Array.isArray(o.env)) {
      throw new TypeError(expected('an object of string values', `${owner} env`, o.env));
    }
    for (const [key, value] of Object.entries(o.env)) {
      if (typeof value !== 'string') throw new TypeError(expected('a string', `${owner} env.${key}`, value));
    }
    env = { ...(o.env as Record<string, string>) };
  }
  return new CommandForward([...argv], shape, d, integerOption(o, 'concurrency', owner, defaultConcurrency(), 1),
    integerOption(o, 'chunkSize', owner, 1, 1), timeoutMs, integerOption(o, 'retries', owner, 0, 0), cwd, env);
}

