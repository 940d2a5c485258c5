import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { backends, resolveBackend } from '../lib';
import { main } from '../lib/cli/main';

describe('backends()', () => {
  const saved = process.env.ENKG_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.ENKG_BACKEND;
    else process.env.ENKG_BACKEND = saved;
  });

  it('reports the CPU as available and CUDA with a device or a reason', async () => {
    const list = await backends();
    expect(list.map((b) => b.name)).toEqual(['cpu', 'cuda']);
    expect(list[0].available).toBe(true);
    const cuda = list[1];
    if (cuda.available) expect(cuda.device).toMatch(/compute capability \d+\.\d+/);
    else expect(cuda.reason).toEqual(expect.any(String));
  });

  it("resolves 'auto' to CUDA only when it is available, and ENKG_BACKEND=cpu forces the CPU", async () => {
    const cudaAvailable = (await backends())[1].available;
    expect(await resolveBackend('auto')).toBe(cudaAvailable ? 'cuda' : 'cpu');
    expect(await resolveBackend(undefined)).toBe(cudaAvailable ? 'cuda' : 'cpu');
    process.env.ENKG_BACKEND = 'cpu';
    expect(await resolveBackend('auto')).toBe('cpu');
    const cuda = (await backends())[1];
    expect(cuda.available).toBe(false);
    if (cudaAvailable) expect(cuda.reason).toBe('disabled by ENKG_BACKEND=cpu');
    await expect(resolveBackend('cuda')).rejects.toThrow(/^The cuda backend is unavailable: /);
    process.env.ENKG_BACKEND = 'tpu';
    await expect(resolveBackend('auto')).rejects.toThrow(
      new TypeError("Expected 'cpu', 'cuda' or 'auto' for the ENKG_BACKEND environment variable but received 'tpu'"));
  });

  it("asking for 'cuda' where it is unavailable throws the probe's reason", async () => {
    const cuda = (await backends())[1];
    if (cuda.available) return; // covered by the CUDA suite on GPU machines
    await expect(resolveBackend('cuda')).rejects.toThrow(`The cuda backend is unavailable: ${cuda.reason}`);
  });
});

describe('enkg info', () => {
  const capture = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    const out: string[] = [], err: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => { out.push(a.join(' ')); });
    const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => { err.push(a.join(' ')); });
    try {
      const code = await main(argv);
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  };

  it('prints the version, the backends and why CUDA is unavailable', async () => {
    const { code, out } = await capture(['info']);
    expect(code).toBe(0);
    const { version } = require('../package.json') as { version: string };
    expect(out).toContain(`enkg ${version}`);
    expect(out).toMatch(/cpu\s+available/);
    const cuda = (await backends())[1];
    if (!cuda.available) expect(out).toContain(`reason: ${cuda.reason}`);
  });

  it('runs as the package bin, the way `npx enkg info` starts it (executable, with a shebang)', () => {
    const { bin } = require('../package.json') as { bin: { enkg: string } };
    const run = spawnSync(path.join(__dirname, '..', bin.enkg), ['info'], { encoding: 'utf8' });
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^enkg \d+\.\d+\.\d+/);
  });

  it('prints JSON with --json and rejects unknown commands', async () => {
    const { out } = await capture(['info', '--json']);
    const parsed = JSON.parse(out) as { version: string; backends: Array<{ name: string }> };
    expect(parsed.backends.map((b) => b.name)).toEqual(['cpu', 'cuda']);
    const bad = await capture(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("unknown command 'frobnicate'");
  });
});

describe('cudaLibraries()', () => {
  const { bin } = require('../package.json') as { bin: { enkg: string } };
  const { native } = require('../lib/binding') as typeof import('../lib/binding');
  const withCuda = native.buildInfo().cuda ? it : it.skip;

  // `enkg info --json` in a fresh process, so ENKG_CUDA_LIB_DIR is read anew.
  const infoWith = (libDir: string): { cudaLibraries: Array<{ name: string; loaded: boolean; path?: string; reason?: string }> } => {
    const run = spawnSync(path.join(__dirname, '..', bin.enkg), ['info', '--json'], {
      encoding: 'utf8', env: { ...process.env, ENKG_CUDA_LIB_DIR: libDir },
    });
    expect(run.status).toBe(0);
    return JSON.parse(run.stdout);
  };

  withCuda('tries every directory of ENKG_CUDA_LIB_DIR with each library\'s own sonames (cuFFT runs one major behind)', () => {
    const { cudaLibraries } = infoWith('/nonexistent-a:/nonexistent-b');
    expect(cudaLibraries.map((l) => l.name)).toEqual(['cublas', 'cufft']);
    const [cublas, cufft] = cudaLibraries;
    // Where the libraries are on the loader path they load from there; else
    // the reason lists every candidate, directories first.
    if (cublas.loaded) {
      expect(cublas.path).toMatch(/libcublas\.so/);
    } else {
      for (const name of ['/nonexistent-a/libcublas.so.13', '/nonexistent-b/libcublas.so.12', 'libcublas.so.12']) {
        expect(cublas.reason).toContain(name);
      }
      expect(cublas.reason!.indexOf('/nonexistent-b/libcublas.so.13')).toBeLessThan(cublas.reason!.indexOf(' libcublas.so.13'));
    }
    if (cufft.loaded) {
      expect(cufft.path).toMatch(/libcufft\.so/);
    } else {
      for (const name of ['/nonexistent-a/libcufft.so.12', '/nonexistent-b/libcufft.so.11', 'libcufft.so.11']) {
        expect(cufft.reason).toContain(name);
      }
      expect(cufft.reason).not.toContain('libcufft.so.13');
    }
  });

  // Where a directory with the libraries is known (the GPU check sets it, or
  // a developer with NVIDIA's wheels unpacked), they load from it.
  const known = process.env.ENKG_TEST_CUDA_LIB_DIR;
  (native.buildInfo().cuda && known ? it : it.skip)('loads cuBLAS and cuFFT from ENKG_CUDA_LIB_DIR', () => {
    const { cudaLibraries } = infoWith(`/nonexistent-a:${known}`);
    for (const lib of cudaLibraries) {
      expect(lib).toMatchObject({ loaded: true });
      expect(lib.path!.startsWith('/nonexistent-a')).toBe(false);
    }
  });
});
