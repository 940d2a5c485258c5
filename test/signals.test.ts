// SIGINT and SIGTERM to each enkg command: it stops at its next safe point,
// removes its temporary files, prints one line saying what was kept, and
// exits with 130 / 143; an earlier result given to --force stays as it was.
// (Spawns dist/cli/main.js: run `npm run build:ts` first.)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { NS_PRIOR_64 } from '../lib/paths';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const TINY = path.join(__dirname, 'fixtures', 'onnx', 'tiny-denoiser.onnx');
const shipped = fs.existsSync(NS_PRIOR_64);

interface Stopped {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Milliseconds from the signal to the exit. */
  afterSignal: number;
}

/** Runs the CLI, sends `signal` once stderr matches `progress`, and waits for the exit. */
function stopWhen(args: string[], progress: RegExp, signal: 'SIGINT' | 'SIGTERM'): Promise<Stopped> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ENKG_BACKEND: 'cpu' } });
    let stderr = '';
    let sentAt: number | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no exit within 150 s; stderr: ${stderr}`));
    }, 150000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (sentAt === undefined && progress.test(stderr)) {
        sentAt = Date.now();
        child.kill(signal);
      }
    });
    child.on('exit', (status, sig) => {
      clearTimeout(timer);
      if (sentAt === undefined) reject(new Error(`the command ended before ${signal} was sent (status ${status}); stderr: ${stderr}`));
      else resolve({ status, signal: sig, stderr, afterSignal: Date.now() - sentAt });
    });
  });
}

function snapshot(p: string): Record<string, string> {
  if (fs.statSync(p).isFile()) return { [path.basename(p)]: fs.readFileSync(p).toString('base64') };
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(p).sort()) out[f] = fs.readFileSync(path.join(p, f)).toString('base64');
  return out;
}

/** The one line that says the command stopped, and that it is the only such line. */
function stopLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => / stopped by SIG/.test(l));
}

describe('signals', () => {
  let dir: string;
  beforeAll(() => {
    expect(fs.existsSync(CLI)).toBe(true);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-signals-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const dataArgs = (out: string) => ['data', 'navier-stokes', '--count', '64', '--resolution', '64', '--batch', '4', '--seed', '1', '--out', out, '--backend', 'cpu'];

  it('enkg data stops on SIGINT with exit 130, one line, and no partial file', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'data-int-'));
    const out = path.join(sub, 'fields.npy');
    const r = await stopWhen(dataArgs(out), /[1-9]\d*\/64 fields/, 'SIGINT');
    expect(r.status).toBe(130);
    expect(stopLines(r.stderr)).toEqual(['enkg data: stopped by SIGINT; nothing was written (the partial file was removed)']);
    expect(fs.readdirSync(sub)).toEqual([]);
  }, 160000);

  it('enkg data stops on SIGTERM with exit 143 and leaves the earlier file of --force as it was', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'data-term-'));
    const out = path.join(sub, 'fields.npy');
    fs.writeFileSync(out, 'an earlier result');
    const r = await stopWhen([...dataArgs(out), '--force'], /[1-9]\d*\/64 fields/, 'SIGTERM');
    expect(r.status).toBe(143);
    expect(stopLines(r.stderr)).toEqual([`enkg data: stopped by SIGTERM; nothing was written (the partial file was removed; ${out} is as it was)`]);
    expect(fs.readdirSync(sub)).toEqual(['fields.npy']);
    expect(fs.readFileSync(out, 'utf8')).toBe('an earlier result');
  }, 160000);

  const sampleArgs = (out: string) => ['sample', '--prior', TINY, '--count', '1024', '--steps', '4000', '--provider', 'cpu', '--out', out];

  it.each([['SIGINT', 130], ['SIGTERM', 143]] as const)('enkg sample stops on %s with exit %i, keeps the earlier DIR of --force whole, removes its staging folder', async (signal, code) => {
    const sub = fs.mkdtempSync(path.join(dir, `sample-${signal}-`));
    const out = path.join(sub, 'samples');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'samples.npy'), 'earlier');
    const before = snapshot(out);
    const r = await stopWhen([...sampleArgs(out), '--force'], /evaluations/, signal);
    expect(r.status).toBe(code);
    expect(stopLines(r.stderr)).toEqual([`enkg sample: stopped by ${signal}; nothing was written (${out} is as it was)`]);
    expect(r.afterSignal).toBeLessThan(10000);
    expect(fs.readdirSync(sub)).toEqual(['samples']);
    expect(snapshot(out)).toEqual(before);
  }, 160000);

  (shipped ? it.each : it.skip.each)([['SIGINT', 130], ['SIGTERM', 143]] as const)('enkg solve stops on %s with exit %i mid-solve, writes nothing and leaves no staging folder', async (signal, code) => {
    const sub = fs.mkdtempSync(path.join(dir, `solve-${signal}-`));
    const out = path.join(sub, 'run');
    const r = await stopWhen(['solve', 'navier-stokes', '--ensemble', '8', '--steps', '40', '--backend', 'cpu', '--out', out], /[1-9]\d*\/40 steps/, signal);
    expect({ status: r.status, signal: r.signal }).toEqual({ status: code, signal: null });
    expect(stopLines(r.stderr)).toEqual([`enkg solve: stopped by ${signal}; nothing was written (${out} is as it was)`]);
    expect(r.stderr).not.toMatch(/terminate called|Aborted|wrote/);
    expect(r.afterSignal).toBeLessThan(20000);
    expect(fs.readdirSync(sub)).toEqual([]);
  }, 160000);
});

describe('stoppablePrior', () => {
  it('drain() waits for evaluations in flight; with a stopped run, a new evaluation rejects with the AbortError', async () => {
    const { stoppablePrior } = await import('../lib/cli/prior');
    const { quietRun } = await import('../lib/cli/stop');
    let release!: () => void;
    let evaluations = 0;
    const slow = {
      shape: [1, 2, 2] as [number, number, number],
      get evaluations() { return evaluations; },
      denoise: (x: Float32Array) => new Promise<Float32Array>((resolve) => { release = () => { evaluations++; resolve(x.map((v) => v / 2)); }; }),
    };
    const controller = new AbortController();
    const prior = stoppablePrior(slow, quietRun(controller.signal));
    const first = prior.denoise(Float32Array.from([2, 4, 6, 8]), 1, 1);
    controller.abort();
    await expect(prior.denoise(new Float32Array(4), 1, 1)).rejects.toMatchObject({ name: 'AbortError' });
    let drained = false;
    const draining = prior.drain().then(() => { drained = true; });
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBe(false);
    release();
    await draining;
    expect(Array.from(await first)).toEqual([1, 2, 3, 4]);
    expect(prior.evaluations).toBe(1);
    // Without a run to stop with, it only tracks: evaluations go on after any signal.
    const tracking = stoppablePrior(slow);
    const later = tracking.denoise(Float32Array.from([2, 2, 2, 2]), 1, 1);
    release();
    expect(Array.from(await later)).toEqual([1, 1, 1, 1]);
    await tracking.drain();
  });
});
