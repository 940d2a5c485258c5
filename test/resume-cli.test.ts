// enkg solve --checkpoint and enkg resume, as real processes: a run killed
// with SIGKILL half-way, or stopped with Ctrl-C (SIGINT), continues with
// enkg resume to the particles of a run that was never interrupted.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CHECKPOINT_FILE, loadCheckpoint, readNpy, writeNpy } from '../lib';
import { NS_PRIOR_64 } from '../lib/paths';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const shipped = fs.existsSync(NS_PRIOR_64) && fs.existsSync(CLI);
if (!shipped) console.warn('Skipping the resume checks: the shipped prior or dist/ (npm run build:ts) is missing');

const SIZES = ['navier-stokes', '--ensemble', '8', '--steps', '8', '--backend', 'cpu', '--quiet'];
const env = { ...process.env, ENKG_BACKEND: 'cpu' };

/** Resolves once the checkpoint in `dir` holds at least `step` steps. */
async function waitForStep(dir: string, step: number, child: ChildProcess): Promise<void> {
  const file = path.join(dir, CHECKPOINT_FILE);
  for (let t = 0; t < 1200; t++) {
    if (child.exitCode !== null) throw new Error(`the solve exited (${child.exitCode}) before step ${step}`);
    if (fs.existsSync(file)) {
      const saved = await loadCheckpoint(file).catch(() => undefined);
      if (saved && saved.state.step >= step) return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no checkpoint at step ${step} after 120 s`);
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString(); });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
}

(shipped ? describe : describe.skip)('enkg solve --checkpoint and enkg resume', () => {
  let dir: string;
  let reference: Float32Array;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-resume-'));
    const run = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', path.join(dir, 'reference')], { encoding: 'utf8', env });
    expect(run.status).toBe(0);
    reference = (await readNpy(path.join(dir, 'reference', 'particles.npy'))).data as Float32Array;
  }, 180000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a run killed with SIGKILL after step 3 resumes to identical particles, and cost counted once', async () => {
    const cp = path.join(dir, 'cp-kill'), out = path.join(dir, 'killed');
    const child = spawn(process.execPath, [CLI, 'solve', ...SIZES, '--out', out, '--checkpoint', cp], { env });
    const done = exited(child);
    await waitForStep(cp, 3, child);
    child.kill('SIGKILL');
    expect((await done).signal).toBe('SIGKILL');
    expect(fs.existsSync(out)).toBe(false); // no half-written result
    const resumed = spawnSync(process.execPath, [CLI, 'resume', cp, '--quiet'], { encoding: 'utf8', env });
    expect(resumed.stderr).toMatch(/continuing at step [3-8] of 8/);
    expect(resumed.status).toBe(0);
    const particles = (await readNpy(path.join(out, 'particles.npy'))).data as Float32Array;
    expect(Buffer.from(particles.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    const first = JSON.parse(fs.readFileSync(path.join(dir, 'reference', 'result.json'), 'utf8'));
    expect(result.cost.forwardEvaluations).toBe(first.cost.forwardEvaluations);
    expect(result.trace).toEqual(first.trace);
  }, 300000);

  it('Ctrl-C stops at a step boundary with exit 130, saves the run and prints how to resume it', async () => {
    const cp = path.join(dir, 'cp-int'), out = path.join(dir, 'interrupted');
    const child = spawn(process.execPath, [CLI, 'solve', ...SIZES, '--out', out, '--checkpoint', cp], { env });
    const done = exited(child);
    await waitForStep(cp, 2, child);
    child.kill('SIGINT');
    const { code, stderr } = await done;
    expect(code).toBe(130);
    expect(stderr).toMatch(new RegExp(`the run is saved at step \\d of 8 in ${cp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; continue it with: enkg resume `));
    const saved = await loadCheckpoint(cp);
    expect(saved.state.step).toBeLessThan(8);
    // The defaults the run resolved are pinned in its command line, so a release with other defaults resumes it as it was.
    // So are the problem's own flags that have a default (--sample, --time), for the same reason.
    expect((saved.meta as { argv: string[] }).argv.slice(-14)).toEqual([
      '--updates', '1', '--restart', 'none', '--noise', '0', '--sample', '0', '--time', '1', '--localize', '0.3', '--relax', '0',
    ]);
    const resumed = spawnSync(process.execPath, [CLI, 'resume', cp, '--json'], { encoding: 'utf8', env });
    expect(resumed.status).toBe(0);
    expect(JSON.parse(resumed.stdout).algorithm).toBe('enkg');
    const particles = (await readNpy(path.join(out, 'particles.npy'))).data as Float32Array;
    expect(Buffer.from(particles.buffer).equals(Buffer.from(reference.buffer))).toBe(true);
  }, 300000);

  it('pins the corrections the problem chose by default, and resumes with them', async () => {
    // At T = 0.25 the problem turns on a following taper and relaxation; the
    // checkpoint's command line names them, so a release that changed those
    // defaults would still resume this run as it started.
    const cp = path.join(dir, 'cp-short'), out = path.join(dir, 'short');
    const args = ['navier-stokes', '--time', '0.25', '--ensemble', '8', '--steps', '6', '--restart', 'none', '--backend', 'cpu', '--quiet'];
    const child = spawn(process.execPath, [CLI, 'solve', ...args, '--out', out, '--checkpoint', cp], { env });
    const done = exited(child);
    await waitForStep(cp, 2, child);
    child.kill('SIGKILL');
    await done;
    const saved = await loadCheckpoint(cp);
    const argv = (saved.meta as { argv: string[] }).argv;
    expect(argv.slice(-11)).toEqual(['--updates', '1', '--noise', '0', '--sample', '0', '--localize', '0.15', '--localize-follow', '--relax', '0.5']);
    // The pins hold where the defaults differ: the same command line at T = 1, which has no default correction.
    const elsewhere = path.join(dir, 'short-elsewhere');
    const options = argv.slice(argv.indexOf('navier-stokes') + 1).filter((a, k, all) => a !== '--checkpoint' && all[k - 1] !== '--checkpoint' && a !== '--out' && all[k - 1] !== '--out');
    const moved = spawnSync(process.execPath, [CLI, 'solve', 'navier-stokes', ...options, '--time', '1', '--steps', '2', '--out', elsewhere], { encoding: 'utf8', env });
    expect(moved.stderr).not.toMatch(/error/i);
    expect(moved.status).toBe(0);
    const config = JSON.parse(fs.readFileSync(path.join(elsewhere, 'result.json'), 'utf8')).config;
    expect(config.localization).toMatchObject({ halfWidth: 0.15, follow: true });
    expect(config.relaxation).toBe(0.5);

    const resumed = spawnSync(process.execPath, [CLI, 'resume', cp, '--quiet'], { encoding: 'utf8', env });
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toMatch(/continuing at step \d of 6: .* --localize 0\.15 --localize-follow --relax 0\.5/);
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(result.config.localization).toMatchObject({ halfWidth: 0.15, follow: true });
    expect(result.config.relaxation).toBe(0.5);
    expect(result.trace[result.trace.length - 1].step).toBe(6);
    // Resuming saves the run again: the pins once, not twice.
    const resaved = ((await loadCheckpoint(cp)).meta as { argv: string[] }).argv;
    for (const flag of ['--ensemble', '--steps', '--updates', '--noise', '--sample', '--time', '--localize', '--localize-follow', '--relax']) {
      expect(resaved.filter((a) => a === flag)).toHaveLength(1);
    }
  }, 300000);

  it('pins no --sample where --truth gave the truth (the two are alternatives), and resumes such a run', async () => {
    const truth = path.join(dir, 'truth.npy'), cp = path.join(dir, 'cp-truth'), out = path.join(dir, 'truth-run');
    const field = new Float32Array(64 * 64).map((_, k) => Math.sin((2 * Math.PI * (k % 64)) / 64) + Math.cos((2 * Math.PI * Math.floor(k / 64)) / 32));
    await writeNpy(truth, field, [64, 64]);
    const args = ['navier-stokes', '--truth', truth, '--ensemble', '4', '--steps', '2', '--backend', 'cpu', '--quiet'];
    const run = spawnSync(process.execPath, [CLI, 'solve', ...args, '--out', out, '--checkpoint', cp], { encoding: 'utf8', env });
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.status).toBe(0);
    const argv = ((await loadCheckpoint(cp)).meta as { argv: string[] }).argv;
    expect(argv).not.toContain('--sample');
    expect(argv.slice(argv.indexOf('--time'), argv.indexOf('--time') + 2)).toEqual(['--time', '1']);
    // Its command line sets the problem up again: with the outputs gone, resume writes the finished run's result anew.
    const first = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    fs.rmSync(out, { recursive: true });
    const resumed = spawnSync(process.execPath, [CLI, 'resume', cp, '--json'], { encoding: 'utf8', env });
    expect(resumed.stderr).not.toMatch(/alternatives/);
    expect(resumed.status).toBe(0);
    expect(JSON.parse(resumed.stdout).problem.truth).toBe(truth);
    expect(JSON.parse(resumed.stdout).metrics.relativeL2Mean).toBe(first.metrics.relativeL2Mean);
  }, 120000);

  it('refuses to start over a saved run without --force, and a folder without a checkpoint', () => {
    const cp = path.join(dir, 'cp-kill');
    const again = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', path.join(dir, 'x'), '--checkpoint', cp], { encoding: 'utf8', env });
    expect(again.status).toBe(2);
    expect(again.stderr).toContain(`holds a saved run; continue it with 'enkg resume ${cp}', or pass --force to start over`);
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const none = spawnSync(process.execPath, [CLI, 'resume', empty], { encoding: 'utf8', env });
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('cannot be used: it does not exist');
  });
});
