// `enkg solve inpainting | super-resolution | deblur | phase-retrieval` end
// to end on the shipped Fashion-MNIST prior with tiny ensembles, the truth
// loaders (held-out images, .npy, PNG resized by sharp) and the usage
// errors (exit code 2).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import sharp from 'sharp';

import { encodeNpy, readNpy } from '../lib';
import { main } from '../lib/cli/main';
import { isUsageError } from '../lib/cli/usage';
import { FM_PRIOR_32, FM_TEST_32 } from '../lib/paths';
import { readTruthImage } from '../lib/problems/imaging/entries';
import { PROBLEM_NAMES } from '../lib/problems/registry';

const shipped = fs.existsSync(FM_PRIOR_32) && fs.existsSync(FM_TEST_32);
if (!shipped) console.warn(`Skipping the imaging enkg solve checks: ${FM_PRIOR_32} or ${FM_TEST_32} is not in this checkout`);
const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const TINY = ['--ensemble', '4', '--steps', '4', '--quiet', '--backend', 'cpu'];

async function usageError(argv: string[]): Promise<Error> {
  const error = await main(argv).then(() => undefined, (e: Error) => e);
  expect(error).toBeTruthy();
  expect(isUsageError(error)).toBe(true);
  return error!;
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-imaging-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('registers the four imaging problems', () => {
  expect(PROBLEM_NAMES).toEqual(expect.arrayContaining(['inpainting', 'super-resolution', 'deblur', 'phase-retrieval']));
});

(shipped ? describe : describe.skip)('enkg solve on the imaging problems', () => {
  it.each([
    ['inpainting', [], { box: { side: 16 }, observedPixels: 768, measurementSize: 768 }],
    ['super-resolution', ['--factor', '2'], { factor: 2, lowShape: [1, 16, 16], measurementSize: 256 }],
    ['deblur', [], { kernelSize: 7, std: 0.375, measurementSize: 1024 }],
    ['phase-retrieval', [], { oversample: 2, frame: [64, 64], measurementSize: 4096 }],
  ] as const)('%s runs end to end with a tiny ensemble and reports PSNR and SSIM (per particle and of the mean)', async (name, extra, described) => {
    const out = path.join(dir, name);
    expect(await main(['solve', name, ...TINY, '--image', '3', '--out', out, ...extra])).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    expect(result).toMatchObject({
      problem: { name, noise: 0.05, shape: [1, 32, 32], truth: { file: FM_TEST_32, image: 3 }, ...described },
      algorithm: 'enkg', config: { ensembleSize: 4, steps: 4 },
      files: { panel: 'panel.png', particles: 'particles.npy', truth: 'truth.png', observation: 'observation.png', mean: 'mean.png' },
    });
    for (const key of ['psnr', 'psnrMean', 'ssim', 'ssimMean']) expect(Number.isFinite(result.metrics[key])).toBe(true);
    expect(result.metrics.psnr).toBeGreaterThan(3);
    expect(result.metrics.ssim).toBeLessThan(1);
    expect(result.metricNotes.join(' ')).toMatch(name === 'phase-retrieval' ? /sign flip, 180-degree rotation and circular shift/ : /clipped/);
    const particles = await readNpy(path.join(out, 'particles.npy'));
    expect(particles.shape).toEqual([4, 1, 32, 32]);
    for (const file of Object.values(result.files) as string[]) expect(fs.statSync(path.join(out, file)).size).toBeGreaterThan(100);
  }, 120000);

  it('reads a --truth PNG of the wrong size as grey-scale resized to 32x32 (left white, right black)', async () => {
    const W = 64, H = 48, rgb = Buffer.alloc(W * H * 3);
    for (let i = 0; i < H; i++) for (let j = 0; j < W / 2; j++) rgb.fill(255, (i * W + j) * 3, (i * W + j) * 3 + 3);
    const file = path.join(dir, 'half.png');
    await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
    const truth = await readTruthImage(file, [1, 32, 32]);
    expect(truth.length).toBe(1024);
    for (let i = 0; i < 32; i++) {
      expect(truth[i * 32 + 2]).toBeCloseTo(1, 5);
      expect(truth[i * 32 + 29]).toBeCloseTo(-1, 5);
    }
    const out = path.join(dir, 'png-truth');
    expect(await main(['solve', 'deblur', ...TINY, '--truth', file, '--out', out])).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8')).problem.truth).toBe(file);
  }, 120000);

  it('takes a .npy truth in [-1, 1] as it is, and names one of the wrong size', async () => {
    const image = Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i) * 0.9);
    const file = path.join(dir, 'truth.npy');
    fs.writeFileSync(file, encodeNpy(image, [1, 1, 32, 32]));
    expect(Array.from(await readTruthImage(file, [1, 32, 32]))).toEqual(Array.from(image));
    const small = path.join(dir, 'small.npy');
    fs.writeFileSync(small, encodeNpy(new Float32Array(100), [10, 10]));
    expect((await usageError(['solve', 'inpainting', ...TINY, '--truth', small])).message).toBe(
      `--truth ${small} holds shape [10, 10]; expected one 1x32x32 image in [-1, 1] (or a .png/.jpg, which is resized)`);
  });

  it('a corrupt --truth PNG is a usage error, exit code 2 from the CLI', async () => {
    const file = path.join(dir, 'corrupt.png');
    fs.writeFileSync(file, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(40, 7)]));
    expect((await usageError(['solve', 'phase-retrieval', ...TINY, '--truth', file])).message).toMatch(
      new RegExp(`^--truth ${file} is not a readable image \\(.png, .jpg or .npy\\): `));
    const run = spawnSync(process.execPath, [CLI, 'solve', 'phase-retrieval', ...TINY, '--truth', file, '--out', path.join(dir, 'never')], { encoding: 'utf8' });
    expect(run.stderr).toContain('is not a readable image');
    expect(run.status).toBe(2);
    expect(fs.existsSync(path.join(dir, 'never'))).toBe(false);
  }, 60000);

  it.each([
    [['solve', 'deblur', '--image', '64'], 'Expected an image index from 0 to 63 (the images in ' + FM_TEST_32 + ') for --image but received 64'],
    [['solve', 'super-resolution', '--factor', '3'], "--factor must be 2 or 4, got '3'"],
    [['solve', 'deblur', '--kernel-size', '6'], "--kernel-size must be odd, got '6'"],
    [['solve', 'inpainting', '--box', '8', '--mask', 'm.png'], '--box and --mask are alternatives: give one'],
    [['solve', 'inpainting', '--box', '20,40'], /^--box: Expected \[minSide, maxSide\], integers with 1 <= minSide <= maxSide <= 28/],
    [['solve', 'phase-retrieval', '--image', '1', '--truth', 'x.png'], '--image and --truth are alternatives: give one'],
    [['solve', 'phase-retrieval', '--oversample', '0.5'], "--oversample must be a number >= 1, got '0.5'"],
  ])('%j is a usage error naming the flag', async (argv, message) => {
    const error = await usageError([...argv, ...TINY, '--out', path.join(dir, 'never')]);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });
});
