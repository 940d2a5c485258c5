// `enkg solve navier-stokes`, the main job, end to end on the shipped prior,
// and its usage errors (exit code 2).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { readNpy } from '../lib';
import { main } from '../lib/cli/main';
import { isUsageError } from '../lib/cli/usage';
import { ALGORITHM_NAMES } from '../lib/algorithms/registry';
import { formatRestarts } from '../lib/algorithms/enkg';
import { NS_PRIOR_64 } from '../lib/paths';
import { navierStokesEntry } from '../lib/problems/navier-stokes-entry';
import { PROBLEM_NAMES } from '../lib/problems/registry';

const shipped = fs.existsSync(NS_PRIOR_64);
if (!shipped) console.warn(`Skipping the enkg solve checks: ${NS_PRIOR_64} is not in this checkout`);
const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');

async function usageError(argv: string[]): Promise<Error> {
  const error = await main(argv).then(() => undefined, (e: Error) => e);
  expect(error).toBeTruthy(); // parseArgs errors come from another realm than jest's Error
  expect(isUsageError(error)).toBe(true);
  return error!;
}

(shipped ? describe : describe.skip)('enkg solve navier-stokes', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-solve-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs EnKG end to end and writes result.json, panel.png, the images and the particles', async () => {
    const out = path.join(dir, 'run');
    expect(await main(['solve', 'navier-stokes', '--ensemble', '8', '--steps', '6', '--out', out, '--quiet', '--backend', 'cpu'])).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(result).toMatchObject({
      problem: { name: 'navier-stokes', resolution: 64, noise: 0, measurementSize: 1024 },
      algorithm: 'enkg', backend: 'cpu',
      config: { ensembleSize: 8, steps: 6, guidanceScale: 2, updates: 1 }, // one update per step on the CPU
      files: { panel: 'panel.png', particles: 'particles.npy', truth: 'truth.png', mean: 'mean.png', std: 'std.png' },
    });
    for (const key of ['relativeL2', 'relativeL2Mean', 'crps', 'spreadSkill', 'misfit']) {
      expect(Number.isFinite(result.metrics[key])).toBe(true);
      expect(result.metrics[key]).toBeGreaterThan(0);
    }
    // EnKG at K = 6: guided steps are 1..5 (i > 0.3, i < 6), U = 1.
    expect(result.cost).toMatchObject({ forwardEvaluations: 8 * 5, forwardSequential: 5 });
    expect(result.cost.denoiserEvaluations).toBeGreaterThan(0);
    expect(result.trace).toHaveLength(5);
    expect(result.metrics.misfitFailures).toBe(0);
    for (const file of Object.values(result.files) as string[]) expect(fs.statSync(path.join(out, file)).size).toBeGreaterThan(100);
    const png = fs.readFileSync(path.join(out, 'panel.png'));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    const width = png.readUInt32BE(16), height = png.readUInt32BE(20);
    expect(width).toBeGreaterThan(5 * 64);
    expect(height).toBeGreaterThan(64);
    const particles = await readNpy(path.join(out, 'particles.npy'));
    expect(particles.shape).toEqual([8, 1, 64, 64]);
  }, 180000);

  it('prints only the result JSON on stdout with --json, and exits with 2 on usage errors', () => {
    const out = path.join(dir, 'json');
    const run = spawnSync(process.execPath, [CLI, 'solve', 'navier-stokes', '--ensemble', '4', '--steps', '3', '--json', '--out', out, '--backend', 'cpu'],
      { encoding: 'utf8', env: { ...process.env, ENKG_BACKEND: 'cpu' } });
    expect(run.status).toBe(0);
    const parsed = JSON.parse(run.stdout);
    expect(parsed.algorithm).toBe('enkg');
    expect(parsed.metrics.relativeL2).toBeGreaterThan(0);
    const bad = spawnSync(process.execPath, [CLI, 'solve', 'navier-stokes', '--ensembel', '4'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--ensembel'/);
  }, 120000);

  it('observes at --time T, a flag of the navier-stokes entry, and records it', async () => {
    const out = path.join(dir, 'short');
    expect(await main(['solve', 'navier-stokes', '--time', '0.25', '--ensemble', '4', '--steps', '3', '--restart', 'none', '--out', out, '--quiet', '--backend', 'cpu'])).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(result.problem).toMatchObject({ name: 'navier-stokes', time: 0.25, noise: 0 });
    expect((await usageError(['solve', 'navier-stokes', '--time', '0'])).message).toMatch(/--time must be a number > 0, got '0'/);
  }, 120000);

  it('localizes the Kalman step with --localize C, records it, and refuses it where it does not apply', async () => {
    const out = path.join(dir, 'localized');
    expect(await main(['solve', 'navier-stokes', '--time', '0.25', '--ensemble', '4', '--steps', '3', '--restart', 'none', '--localize', '0.2', '--out', out, '--quiet', '--backend', 'cpu'])).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(result.config.localization).toEqual({ halfWidth: 0.2, normalize: 'unlocalized', method: 'auto' });
    expect((await usageError(['solve', 'navier-stokes', '--localize', '0.7'])).message).toMatch(/--localize must be a fraction of the domain in \(0, 0.5\] or 'none', got '0.7'/);
    expect((await usageError(['solve', 'navier-stokes', '--algo', 'dpg', '--localize', '0.2'])).message)
      .toMatch(/--localize applies to the ensemble Kalman methods \(enkg, eki\), not --algo dpg/);
  }, 120000);

  it('localizes, relaxes and restarts by default where the measurements picked it (navier-stokes up to --time 0.5); --localize none, --relax 0 and --restart none turn them off', async () => {
    const config = async (name: string, extra: string[]) => {
      const out = path.join(dir, name);
      expect(await main(['solve', 'navier-stokes', '--ensemble', '4', '--steps', '3', '--out', out, '--quiet', '--backend', 'cpu', ...extra])).toBe(0);
      return JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8')).config;
    };
    const noisy = [{ sigma: 2, steps: 10 }, { sigma: 1, steps: 10 }, { sigma: 1, steps: 10 }];
    const exact = noisy.map((pass) => ({ ...pass, guidanceScale: 4 }));
    expect(await config('horizon-short', ['--time', '0.25'])).toMatchObject({
      localization: { halfWidth: 0.15, follow: true }, relaxation: 0.5, restarts: exact,
    });
    // Beyond T = 0.25 the taper is wider (the flow has spread each observation's sensitivity further).
    expect((await config('horizon-half', ['--time', '0.5', '--restart', 'none'])).localization).toMatchObject({ halfWidth: 0.2, follow: true });
    expect(navierStokesEntry.corrections?.({ time: '0.3' }, 'cpu')).toEqual({ localization: { halfWidth: 0.2, follow: true }, relaxation: 0.5 });
    expect(navierStokesEntry.corrections?.({ time: '0.25' }, 'cuda')).toEqual({ localization: { halfWidth: 0.15, follow: true }, relaxation: 0.5 });
    // Beyond T = 0.5 a wider centred taper alone, on the CPU only: its ensembles were measured, not the GPU's paper-sized one.
    expect(navierStokesEntry.corrections?.({ time: '1' }, 'cpu')).toEqual({ localization: { halfWidth: 0.3 } });
    expect(navierStokesEntry.corrections?.({ time: '0.75' }, 'cpu')).toEqual({ localization: { halfWidth: 0.3 } });
    expect(navierStokesEntry.corrections?.({ time: '1' }, 'cuda')).toBeUndefined();
    // Noisy data: the passes at the run's own guidance scale.
    expect((await config('horizon-short-noisy', ['--time', '0.25', '--noise', '1'])).restarts).toEqual(noisy);
    const off = await config('horizon-short-off', ['--time', '0.25', '--localize', 'none', '--relax', '0', '--restart', 'none']);
    expect(off.localization).toBeNull();
    expect('relaxation' in off).toBe(false);
    expect('restarts' in off).toBe(false);
    // An explicit --localize replaces the default whole; --localize-follow adds following.
    expect((await config('horizon-short-wider', ['--time', '0.5', '--localize', '0.3'])).localization).toEqual({ halfWidth: 0.3, normalize: 'unlocalized', method: 'auto' });
    expect((await config('horizon-paper-follow', ['--localize', '0.2', '--localize-follow'])).localization).toMatchObject({ halfWidth: 0.2, follow: true });
    // At T = 1 on the CPU --localize-follow makes the default taper follow the flow.
    expect((await config('horizon-paper-default-follow', ['--localize-follow'])).localization).toMatchObject({ halfWidth: 0.3, follow: true });
    expect((await usageError(['solve', 'navier-stokes', '--time', '0.25', '--localize', 'none', '--localize-follow'])).message)
      .toMatch(/--localize-follow needs localization: give --localize C \(not none\)/);
    expect((await usageError(['solve', 'phase-retrieval', '--gain', '1', '--localize-follow'])).message).toMatch(/--localize-follow needs localization/);
    // The localized step's length and the taper's form, from the CLI too.
    expect((await config('horizon-paper-options', ['--localize', '0.2', '--localize-normalize', 'coefficient', '--localize-method', 'fft'])).localization)
      .toEqual({ halfWidth: 0.2, normalize: 'coefficient', method: 'fft' });
    expect((await usageError(['solve', 'navier-stokes', '--localize', 'none', '--localize-method', 'dense'])).message).toMatch(/--localize-method needs localization: give --localize C/);
    expect((await usageError(['solve', 'navier-stokes', '--localize', '0.2', '--localize-normalize', 'long'])).message)
      .toMatch(/--localize-normalize must be unlocalized or coefficient, got 'long'/);
    expect((await usageError(['solve', 'navier-stokes', '--localize', '0.2', '--localize-method', 'gpu'])).message).toMatch(/--localize-method must be auto, dense or fft, got 'gpu'/);
    expect((await usageError(['solve', 'navier-stokes', '--time', '0.25', '--localize-method', 'fft'])).message)
      .toMatch(/--localize-method fft cannot follow the flow .* \(this problem follows by default here/);
    expect((await usageError(['solve', 'navier-stokes', '--algo', 'dps', '--localize-method', 'fft'])).message).toMatch(/--localize-method applies to the ensemble Kalman methods/);
    expect((await usageError(['solve', 'navier-stokes', '--localize', '0.2', '--sec', '--localize-method', 'fft'])).message)
      .toMatch(/--localize-method fft cannot take --sec .*: give dense or auto, or drop --sec/);
    // And 128 particles on the CPU, for the Kalman methods only; EnKG also restarts three times from low noise levels
    // up to T = 0.25, at g = 4 on noise-free data (the entry's default noise, 0, when none is said).
    expect(navierStokesEntry.sizes?.('enkg', 'cpu', { time: '0.25' })).toEqual({ ensemble: 128, steps: 20, restarts: exact });
    expect(navierStokesEntry.sizes?.('enkg', 'cpu', { time: '0.25' }, 0.5)).toEqual({ ensemble: 128, steps: 20, restarts: noisy });
    // Beyond T = 0.25, six passes, each clean estimate one Euler step.
    const six = [2, 1, 1, 1, 1, 1].map((sigma) => ({ sigma, steps: 10, maxOdeSteps: 1 }));
    expect(navierStokesEntry.sizes?.('enkg', 'cpu', { time: '0.5' }, 0))
      .toEqual({ ensemble: 128, steps: 20, restarts: six.map((pass) => ({ ...pass, guidanceScale: 4 })) });
    expect(navierStokesEntry.sizes?.('enkg', 'cpu', { time: '0.4' }, 0.5)).toEqual({ ensemble: 128, steps: 20, restarts: six });
    expect(navierStokesEntry.sizes?.('eki', 'cpu', { time: '0.5' }, 1)).toEqual({ ensemble: 128 });
    for (const [algo, backend, time] of [['enkg', 'cpu', '1'], ['enkg', 'cuda', '0.25'], ['dpg', 'cpu', '0.25']] as const) {
      expect(navierStokesEntry.sizes?.(algo, backend, { time })).toBeUndefined();
    }
    const paper = await config('horizon-paper', ['--time', '1']);
    expect(paper.localization).toEqual({ halfWidth: 0.3, normalize: 'unlocalized', method: 'auto' });
    expect('relaxation' in paper).toBe(false);
    expect('restarts' in paper).toBe(false);
    // A method without a Kalman step takes no default correction.
    expect(await main(['solve', 'navier-stokes', '--algo', 'dpg', '--time', '0.25', '--steps', '2', '--out', path.join(dir, 'dpg'), '--quiet', '--backend', 'cpu'])).toBe(0);
  }, 180000);

  it('takes the sampling-error correction (--sec), the regularized gain (--gain) and the relaxation (--relax), records them, and names bad values', async () => {
    const out = path.join(dir, 'corrected');
    expect(await main(['solve', 'phase-retrieval', '--ensemble', '6', '--steps', '4', '--sec', '--gain', 'adaptive', '--relax', '0.5', '--out', out, '--quiet', '--backend', 'cpu'])).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(result.config).toMatchObject({ sec: true, gain: { alpha: 'adaptive', rho: 0.5 }, relaxation: 0.5, localization: null });
    const out2 = path.join(dir, 'corrected-eki');
    expect(await main(['solve', 'phase-retrieval', '--algo', 'eki', '--ensemble', '6', '--steps', '2', '--gain', '0.5', '--out', out2, '--quiet', '--backend', 'cpu'])).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out2, 'result.json'), 'utf8')).config.gain).toEqual({ alpha: 0.5, rho: 0.5 });
    // --gain noise: alpha = sigma^2, the Kalman gain of the observation noise; --gain-rho sets the adaptive rule's rho.
    const out3 = path.join(dir, 'corrected-noise');
    expect(await main(['solve', 'phase-retrieval', '--algo', 'eki', '--ensemble', '6', '--steps', '2', '--noise', '0.1', '--gain', 'noise', '--out', out3, '--quiet', '--backend', 'cpu'])).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out3, 'result.json'), 'utf8')).config.gain.alpha).toBeCloseTo(0.01, 12);
    const out4 = path.join(dir, 'corrected-rho');
    expect(await main(['solve', 'phase-retrieval', '--ensemble', '6', '--steps', '2', '--gain', 'adaptive', '--gain-rho', '0.3', '--out', out4, '--quiet', '--backend', 'cpu'])).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out4, 'result.json'), 'utf8')).config.gain).toEqual({ alpha: 'adaptive', rho: 0.3 });
    expect((await usageError(['solve', 'navier-stokes', '--gain', 'noise'])).message).toMatch(/--gain noise takes alpha = sigma\^2 from --noise, which is 0 here: give --noise > 0/);
    expect((await usageError(['solve', 'navier-stokes', '--gain', 'noise', '--noise', '1e200'])).message).toMatch(/--gain noise: sigma\^2 of --noise 1e\+200 is Infinity, out of floating-point range/);
    // A method without a Kalman step is told so first, whatever the value.
    for (const flags of [['--gain', 'noise'], ['--gain-rho', '0.3'], ['--localize-method', 'gpu']]) {
      expect((await usageError(['solve', 'navier-stokes', '--algo', 'dps', ...flags])).message).toMatch(new RegExp(`${flags[0]} applies to the ensemble Kalman methods`));
    }
    expect((await usageError(['solve', 'navier-stokes', '--gain', '1', '--gain-rho', '0.3'])).message).toMatch(/--gain-rho applies to --gain adaptive/);
    for (const rho of ['1', '0', 'abc', '']) {
      expect((await usageError(['solve', 'navier-stokes', '--gain', 'adaptive', '--gain-rho', rho])).message).toMatch(new RegExp(`--gain-rho must be a fraction in \\(0, 1\\), got '${rho}'`));
    }
    expect((await usageError(['solve', 'navier-stokes', '--gain', 'big'])).message).toMatch(/--gain must be a number > 0, 'noise' or 'adaptive', got 'big'/);
    expect((await usageError(['solve', 'navier-stokes', '--gain', '0'])).message).toMatch(/--gain must be a number > 0, 'noise' or 'adaptive', got '0'/);
    expect((await usageError(['solve', 'navier-stokes', '--relax', '1'])).message).toMatch(/--relax must be a fraction in \[0, 1\), got '1'/);
    expect((await usageError(['solve', 'navier-stokes', '--algo', 'scg', '--sec'])).message)
      .toMatch(/--sec applies to the ensemble Kalman methods \(enkg, eki\), not --algo scg/);
  }, 120000);

  it('takes EnKG restart passes (--restart S:M[:G[:L]],...), records them, and names bad values', async () => {
    const out = path.join(dir, 'restarted');
    expect(await main(['solve', 'phase-retrieval', '--ensemble', '6', '--steps', '4', '--restart', '5:3,1:3:4,1:3::1', '--out', out, '--quiet', '--backend', 'cpu'])).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(result.config.restarts).toEqual([{ sigma: 5, steps: 3 }, { sigma: 1, steps: 3, guidanceScale: 4 }, { sigma: 1, steps: 3, maxOdeSteps: 1 }]);
    // Every pass's guided steps evaluate the forward model: 6 particles x (3 + 2 + 2 + 2) (0.05 M < j < M - floor(0.05 M)).
    expect(result.cost.forwardEvaluations).toBe(6 * 9);
    // The progress bar counts every pass's steps: 4 + 3 + 3.
    const written: string[] = [];
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { written.push(String(chunk)); return true; });
    try {
      expect(await main(['solve', 'phase-retrieval', '--ensemble', '6', '--steps', '4', '--restart', '5:3,1:3', '--out', path.join(dir, 'restarted-bar'), '--backend', 'cpu'])).toBe(0);
    } finally {
      stderr.mockRestore();
    }
    expect(written.join('')).toMatch(/100% 10\/10 steps/);
    const none = path.join(dir, 'restart-none');
    expect(await main(['solve', 'phase-retrieval', '--ensemble', '6', '--steps', '4', '--restart', 'none', '--out', none, '--quiet', '--backend', 'cpu'])).toBe(0);
    expect('restarts' in JSON.parse(fs.readFileSync(path.join(none, 'result.json'), 'utf8')).config).toBe(false);
    expect((await usageError(['solve', 'navier-stokes', '--restart', '10'])).message).toMatch(/for --restart but received '10'/);
    expect((await usageError(['solve', 'navier-stokes', '--restart', '1:10:-4'])).message).toMatch(/SIGMA:STEPS\[:G\[:L\]\].*for --restart but received '1:10:-4'/);
    expect((await usageError(['solve', 'navier-stokes', '--restart', '0.001:5'])).message)
      .toMatch(/Expected a noise level above sigmaMin \(0.002\) for EnKG restarts\[0\].sigma but received 0.001/);
    expect((await usageError(['solve', 'navier-stokes', '--algo', 'eki', '--restart', '10:5'])).message).toMatch(/--restart applies to enkg, not --algo eki/);
  }, 120000);

  it('lists every problem and algorithm of the registries in its help', async () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await main(['solve', '--help'])).toBe(0);
      const text = String(log.mock.calls[0][0]);
      for (const name of PROBLEM_NAMES) expect(text).toContain(`  ${name} `);
      for (const name of ALGORITHM_NAMES) expect(text).toContain(` ${name} `);
      expect(await main(['solve', 'navier-stokes', '--help'])).toBe(0);
      expect(String(log.mock.calls[1][0])).toMatch(/navier-stokes options:\n  --sample I/);
      // --time's help states the short-horizon defaults as the entry resolves them.
      const help = String(log.mock.calls[1][0]).replace(/\s+/g, ' ');
      const passes = (time: string, noise: number) => navierStokesEntry.sizes!('enkg', 'cpu', { time }, noise)!.restarts!;
      expect(help).toContain(`--restart ${formatRestarts(passes('0.25', 0))} up to 0.25`);
      expect(help).toContain(`(${formatRestarts(passes('0.25', 1))} and`);
      const half = passes('0.5', 0).map((p) => formatRestarts([p]));
      expect(help).toContain(`and ${half[0]} then ${half[1]} x ${half.length - 1} beyond`);
    } finally {
      log.mockRestore();
    }
  });

  it('names the bad input in its usage errors', async () => {
    await usageError(['solve', 'navier-stokes', '--frobnicate']);
    expect((await usageError(['solve', 'heat-equation'])).message).toMatch(/one problem, one of navier-stokes.*; got 'heat-equation'/);
    expect((await usageError(['solve', 'navier-stokes', '--algo', 'magic'])).message).toMatch(/--algo must be one of enkg, eki/);
    expect((await usageError(['solve', 'navier-stokes', '--ensemble', '1'])).message).toMatch(/--ensemble must be at least 2/);
    expect((await usageError(['solve', 'navier-stokes', '--ensemble', 'many'])).message).toMatch(/--ensemble must be an integer >= 1, got 'many'/);
    expect((await usageError(['solve', 'navier-stokes', '--noise=-1'])).message).toMatch(/--noise must be a number >= 0/);
    expect((await usageError(['solve', 'navier-stokes', '--resolution', '128'])).message).toMatch(/--resolution 128 does not match the prior/);
    expect((await usageError(['solve', 'navier-stokes', '--sample', '1', '--truth', 'x.npy'])).message).toMatch(/alternatives/);
    expect((await usageError(['solve', 'navier-stokes', '--prior', '/nonexistent.onnx'])).message)
      .toMatch(/^Expected a readable file for --prior but received '\/nonexistent\.onnx' \(no such file\)$/);
    expect((await usageError(['solve', 'navier-stokes', '--prior-provider', 'tpu'])).message)
      .toMatch(/--prior-provider must be auto or a comma-separated list of cuda, webgpu, cpu; got 'tpu'/);
    expect((await usageError(['solve', 'navier-stokes', '--sample', '999', '--quiet', '--out', path.join(dir, 'x')])).message)
      .toMatch(/--sample: Expected a sample index below 64/);
    expect((await usageError(['solve', 'navier-stokes', '--truth', path.join(dir, 'missing.npy')])).message)
      .toMatch(/^Expected a readable file for --truth but received '.*missing\.npy' \(no such file\)$/);
    const garbage = path.join(dir, 'garbage.npy');
    fs.writeFileSync(garbage, 'not numpy');
    expect((await usageError(['solve', 'navier-stokes', '--truth', garbage])).message).toMatch(/^--truth \(.*garbage\.npy\) is not a \.npy file/);
    expect((await usageError(['solve', 'navier-stokes', '--out', garbage])).message).toMatch(/^Expected a folder \(new, empty, or an earlier result to replace with --force\) for --out but received '.*garbage\.npy' \(a regular file\)$/);
    const twoChannel = path.join(__dirname, 'fixtures', 'onnx', 'two-channel.onnx');
    expect((await usageError(['solve', 'navier-stokes', '--prior', twoChannel, '--prior-provider', 'cpu'])).message)
      .toMatch(/two-channel\.onnx has fields of shape \[2, 8, 8\]; the Navier-Stokes problem needs \[1, R, R\]/);
  });
});

describe('enkg without a command', () => {
  it('prints the usage on stderr and exits with 2; `enkg help` prints it on stdout and exits with 0', async () => {
    const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await main([])).toBe(2);
      expect(error).toHaveBeenCalledWith(expect.stringContaining('Usage: enkg <command>'));
      expect(await main(['help'])).toBe(0);
      expect(log).toHaveBeenCalledWith(expect.stringContaining('Usage: enkg <command>'));
    } finally {
      error.mockRestore();
      log.mockRestore();
    }
  });
});
