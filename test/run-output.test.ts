// A run's output folder never holds a mixture of two runs: the files are
// staged in a hidden sibling folder and renamed into place, an existing
// result is replaced only with --force, an unusable --out fails before any
// work, and a run killed while writing leaves the earlier result whole.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { main } from '../lib/cli/main';
import { liveTemporaries } from '../lib/io/atomic-file';
import { RunOutput } from '../lib/io/run-output';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const TINY = path.join(__dirname, 'fixtures', 'onnx', 'tiny-denoiser.onnx');

/** Every file under `dir` with its bytes, for comparing a folder before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort()) out[f] = fs.readFileSync(path.join(dir, f)).toString('base64');
  return out;
}

describe('RunOutput', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-out-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('shows nothing at the target until commit, then every file at once; the staging folder is gone', async () => {
    const target = path.join(root, 'nested', 'run');
    const output = await RunOutput.create(target);
    expect(path.dirname(output.staging)).toBe(path.dirname(target));
    expect(path.basename(output.staging)).toMatch(/^\.run\.partial-/);
    expect(liveTemporaries()).toContain(output.staging);
    await output.writeFile('a.json', '{"a":1}\n');
    await output.writeFile('b.png', Buffer.from([1, 2, 3]));
    expect(fs.existsSync(target)).toBe(false);
    await output.commit();
    expect(snapshot(target)).toEqual({ 'a.json': Buffer.from('{"a":1}\n').toString('base64'), 'b.png': 'AQID' });
    expect(fs.readdirSync(path.dirname(target))).toEqual(['run']);
    expect(liveTemporaries()).not.toContain(output.staging);
  });

  it('refuses an existing result without force; with force the new run replaces it whole (no old file survives)', async () => {
    const target = path.join(root, 'run');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'result.json'), 'old');
    fs.writeFileSync(path.join(target, 'extra.png'), 'old');
    await expect(RunOutput.create(target)).rejects.toThrow(
      `Expected a new or empty folder for --out but received '${target}' (it holds extra.png, result.json; pass --force to replace it)`);
    const output = await RunOutput.create(target, { force: true });
    await output.writeFile('result.json', 'new');
    expect(snapshot(target)).toEqual({ 'extra.png': Buffer.from('old').toString('base64'), 'result.json': Buffer.from('old').toString('base64') });
    await output.commit();
    expect(snapshot(target)).toEqual({ 'result.json': Buffer.from('new').toString('base64') });
    expect(fs.readdirSync(root)).toEqual(['run']);
  });

  it('takes an empty folder, and abort() leaves the target as it was', async () => {
    const target = path.join(root, 'empty');
    fs.mkdirSync(target);
    const output = await RunOutput.create(target);
    await output.writeFile('x.json', '{}');
    await output.abort();
    expect(fs.readdirSync(root)).toEqual(['empty']);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it('refuses an unusable path before any work: under a file, in /proc, a file where a folder is wanted', async () => {
    const file = path.join(root, 'file');
    fs.writeFileSync(file, 'x');
    await expect(RunOutput.create(path.join(file, 'run'))).rejects.toThrow(
      new RegExp(`^Expected a folder that can be created for --out but received '${file}/run' \\(cannot create ${file}: a file is in the way, not a folder\\)$`));
    await expect(RunOutput.create('/proc/enkg-test/run')).rejects.toThrow(/^Expected a folder that can be created for --out but received '\/proc\/enkg-test\/run' \(cannot create \/proc\/enkg-test: /);
    await expect(RunOutput.create(file)).rejects.toThrow(`Expected a folder (new, empty, or an earlier result to replace with --force) for --out but received '${file}' (a regular file)`);
  });
});

describe('the commands and their output paths', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-cmd-out-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('an unwritable --out (or --checkpoint) is a usage error (exit 2) within seconds, for data, sample and solve', () => {
    const file = path.join(root, 'plain');
    fs.writeFileSync(file, 'x');
    const cases: Array<[string[], RegExp]> = [
      [['data', 'navier-stokes', '--count', '4', '--resolution', '16', '--seed', '0', '--out', '/proc/enkg.npy'], /^enkg: Could not write \/proc\/enkg\.npy: /],
      [['data', 'navier-stokes', '--count', '4', '--resolution', '16', '--seed', '0', '--out', `${file}/x.npy`], /^enkg: Expected a path in a writable folder for --out but received '.*plain\/x\.npy' \(cannot create .*plain: a file is in the way, not a folder\)$/],
      [['sample', '--prior', TINY, '--out', `${file}/dir`], /^enkg: Expected a folder that can be created for --out but received '.*plain\/dir'/],
      [['solve', 'navier-stokes', '--out', path.join(root, 'r'), '--checkpoint', '/proc/enkg-cp', '--backend', 'cpu'], /^enkg: Expected a folder that can be created for --checkpoint but received '\/proc\/enkg-cp' \(cannot create \/proc\/enkg-cp: /],
      [['solve', 'navier-stokes', '--out', '/proc/enkg-run', '--backend', 'cpu'], /^enkg: Expected a folder that can be created for --out but received '\/proc\/enkg-run' \(cannot write in \/proc: /],
    ];
    for (const [argv, message] of cases) {
      const run = spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', timeout: 30000, env: { ...process.env, ENKG_BACKEND: 'cpu' } });
      expect({ argv, status: run.status, stderr: run.stderr.trim() }).toEqual({ argv, status: 2, stderr: expect.stringMatching(message) });
    }
  }, 120000);

  it('enkg sample refuses to replace a result without --force, and replaces it with --force', async () => {
    const out = path.join(root, 'samples');
    const quiet = [jest.spyOn(process.stderr, 'write').mockImplementation(() => true), jest.spyOn(console, 'error').mockImplementation(() => undefined)];
    try {
      expect(await main(['sample', '--prior', TINY, '--out', out, '--count', '2', '--steps', '2', '--provider', 'cpu'])).toBe(0);
      const first = snapshot(out);
      await expect(main(['sample', '--prior', TINY, '--out', out, '--count', '2', '--steps', '2', '--seed', '5', '--provider', 'cpu'])).rejects.toMatchObject({
        name: 'UsageError', message: `Expected a new or empty folder for --out but received '${out}' (it holds samples.npy, samples.png; pass --force to replace it)`,
      });
      expect(snapshot(out)).toEqual(first);
      expect(await main(['sample', '--prior', TINY, '--out', out, '--count', '2', '--steps', '2', '--seed', '5', '--provider', 'cpu', '--force'])).toBe(0);
      expect(snapshot(out)['samples.npy']).not.toEqual(first['samples.npy']);
      expect(fs.readdirSync(root).filter((f) => f.startsWith('.'))).toEqual([]);
    } finally {
      for (const m of quiet) m.mockRestore();
    }
  });

  it('enkg solve and enkg data refuse an existing result without --force, before loading anything', async () => {
    const run = path.join(root, 'earlier-run');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'result.json'), '{}');
    await expect(main(['solve', 'navier-stokes', '--out', run, '--backend', 'cpu'])).rejects.toMatchObject({
      name: 'UsageError', message: `Expected a new or empty folder for --out but received '${run}' (it holds result.json; pass --force to replace it)`,
    });
    const file = path.join(root, 'earlier.npy');
    fs.writeFileSync(file, 'earlier');
    await expect(main(['data', 'navier-stokes', '--count', '2', '--resolution', '16', '--seed', '0', '--out', file])).rejects.toMatchObject({
      name: 'UsageError', message: `Expected a new file name for --out but received '${file}' (it exists; pass --force to replace it)`,
    });
    expect(fs.readFileSync(file, 'utf8')).toBe('earlier');
    expect(fs.readdirSync(run)).toEqual(['result.json']);
  });

  it('a run killed (SIGKILL) while writing its files leaves the earlier result whole, never a mixture', () => {
    const out = path.join(root, 'killed');
    const args = ['sample', '--prior', TINY, '--out', out, '--count', '3', '--steps', '3', '--provider', 'cpu'];
    const first = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    expect(first.status).toBe(0);
    const before = snapshot(out);
    // The second run dies the moment it opens samples.png, after samples.npy is written.
    const hook = path.join(root, 'kill-at-png.js');
    fs.writeFileSync(hook, `
const fs = require('fs');
const die = (p) => { if (String(p).includes('samples.png')) process.kill(process.pid, 'SIGKILL'); };
for (const name of ['open', 'openSync']) { const real = fs[name]; fs[name] = function (p, ...rest) { die(p); return real.call(this, p, ...rest); }; }
const realP = fs.promises.open; fs.promises.open = function (p, ...rest) { die(p); return realP.call(this, p, ...rest); };
`);
    const killed = spawnSync(process.execPath, ['-r', hook, CLI, ...args, '--seed', '9', '--force'], { encoding: 'utf8' });
    expect(killed.signal).toBe('SIGKILL');
    expect(snapshot(out)).toEqual(before);
    // What a kill cannot clean up is the hidden staging folder beside it, never a file in the result.
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.killed.partial-')).length).toBe(1);
  }, 60000);
});
