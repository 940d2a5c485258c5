// `enkg solve inpainting | super-resolution | deblur | phase-retrieval`: the
// problem registry's entries for the imaging problems, on the shipped
// Fashion-MNIST prior (32x32, [-1, 1]) and its held-out test images. What
// the four share (the truth loaders, the panel images, PSNR/SSIM) is here
// once; each entry adds its flags, its forward model and how its
// observation is drawn.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { UsageError } from '../../errors';
import { integerFlag, numberFlag } from '../../flags';
import type { PanelImage } from '../../io/figure';
import { readNpy } from '../../io/npy';
import { imageMetrics, ImageShape, PaddedFrame } from '../../metrics/image';
import { FM_PRIOR_32, FM_TEST_32 } from '../../paths';
import type { Denoiser } from '../../prior/denoiser';
import type { FlagValues, ProblemEntry, ProblemFlag, ProblemInstance, ProblemSetupOptions } from '../registry';
import { DEFAULT_BLUR_KERNEL_SIZE, DEFAULT_BLUR_STD, GaussianBlur } from './gaussian-blur';
import { Inpainting } from './inpainting';
import { DEFAULT_IMAGING_NOISE, ImagingOperator } from './operator';
import { PhaseRetrieval } from './phase-retrieval';
import { SuperResolution } from './super-resolution';

/** Held-out image `index` of a .npy of [N, C, H, W] images in [-1, 1] (default: the shipped Fashion-MNIST test images). */
export async function heldOutImage(index: number, file = FM_TEST_32): Promise<{ image: Float32Array; shape: ImageShape }> {
  const npy = await readNpy(file);
  if (npy.shape.length !== 4) throw new RangeError(`${file} holds shape [${npy.shape.join(', ')}]; expected images [N, C, H, W]`);
  const [N, C, H, W] = npy.shape;
  if (!Number.isSafeInteger(index) || index < 0 || index >= N) {
    throw new RangeError(`Expected an image index from 0 to ${N - 1} (the images in ${file}) for --image but received ${index}`);
  }
  const d = C * H * W;
  return { image: Float32Array.from((npy.data as Float32Array).subarray(index * d, (index + 1) * d)), shape: [C, H, W] };
}

/**
 * A user's ground truth for a prior of shape [C, H, W] in [-1, 1]: a .npy of
 * C x H x W values in [-1, 1], or an image file (.png, .jpg) decoded by
 * sharp, converted to grey-scale and resized to H x W (pixel / 127.5 - 1).
 * Anything unreadable is a UsageError.
 */
export async function readTruthImage(file: string, [C, H, W]: ImageShape): Promise<Float32Array> {
  if (!fs.existsSync(file)) throw new UsageError(`--truth ${file} does not exist`);
  if (/\.npy$/i.test(file)) {
    const npy = await readNpy(file).catch((error: Error) => {
      throw new UsageError(`--truth ${file}: ${error.message}`);
    });
    if (npy.data.length !== C * H * W) {
      throw new UsageError(`--truth ${file} holds shape [${npy.shape.join(', ')}]; expected one ${C}x${H}x${W} image in [-1, 1] (or a .png/.jpg, which is resized)`);
    }
    const truth = Float32Array.from(npy.data as ArrayLike<number>, Number);
    if (!truth.every((v) => Number.isFinite(v) && v >= -1 && v <= 1)) throw new UsageError(`--truth ${file}: expected values in [-1, 1]`);
    return truth;
  }
  if (C !== 1) throw new UsageError(`--truth ${file}: image files are read as grey-scale, but the prior takes ${C} channels; pass a .npy`);
  const { default: sharp } = await import('sharp');
  const data = await sharp(file).greyscale().resize(W, H, { fit: 'fill' }).raw().toBuffer().catch((error: Error) => {
    throw new UsageError(`--truth ${file} is not a readable image (.png, .jpg or .npy): ${error.message}`);
  });
  if (data.length !== H * W) throw new UsageError(`--truth ${file}: decoded ${data.length} grey values, expected ${H * W}`);
  return Float32Array.from(data, (v) => v / 127.5 - 1);
}

function requireGreyPrior(prior: Denoiser, priorFile: string, name: string): ImageShape {
  const [C, H, W] = prior.shape;
  if (C < 1 || H < 11 || W < 11) {
    throw new UsageError(`the prior ${priorFile} has images of shape [${prior.shape.join(', ')}]; ${name} needs images of at least 11x11 (SSIM's window)`);
  }
  return [C, H, W];
}

interface ImagingSpec {
  name: string;
  summary: string;
  description: string;
  flags: Record<string, ProblemFlag>;
  /** The forward model from the problem's own flags (UsageError for bad ones). */
  model(flags: FlagValues, shape: ImageShape, noise: number, seed: number): Promise<ImagingOperator>;
  /** The observation drawn so a person can read it. */
  observation(model: ImagingOperator, y: Float32Array, shape: ImageShape): PanelImage;
  /** A description of the model for result.json. */
  describe(model: ImagingOperator): Record<string, unknown>;
}

/** The held-out image without --image or --truth. */
const DEFAULT_IMAGE = 0;
const IMAGE_FLAG: ProblemFlag = {
  type: 'string', default: String(DEFAULT_IMAGE),
  help: `--image I          held-out Fashion-MNIST test image I of data/fashion-mnist-32-test.npy (default ${DEFAULT_IMAGE})`,
};

function imagingEntry(spec: ImagingSpec): ProblemEntry {
  async function setup(opts: ProblemSetupOptions): Promise<ProblemInstance> {
    const { prior, priorFile, flags } = opts;
    const shape = requireGreyPrior(prior, priorFile, spec.name);
    const [C, H, W] = shape;
    const index = integerFlag(flags.image as string | undefined, 'image', 0) ?? DEFAULT_IMAGE;
    let truth: Float32Array, truthSource: unknown;
    if (opts.truthFile) {
      truth = await readTruthImage(opts.truthFile, shape);
      truthSource = path.resolve(opts.truthFile);
    } else {
      const held = await heldOutImage(index).catch((error: Error) => {
        throw error instanceof RangeError ? new UsageError(error.message) : error;
      });
      if (held.shape.join() !== shape.join()) {
        throw new UsageError(`the held-out images are ${held.shape.join('x')} but the prior ${priorFile} takes ${shape.join('x')}: pass --truth FILE`);
      }
      truth = held.image;
      truthSource = { file: FM_TEST_32, image: index };
    }
    const model = await spec.model(flags, shape, opts.noise, opts.seed);
    const observation = await model.observe(truth, { seed: opts.seed, ...(opts.signal ? { signal: opts.signal } : {}) });
    const frame: PaddedFrame | undefined = model instanceof PhaseRetrieval ? { shape, frame: model.frame, offset: model.offset } : undefined;
    return {
      problem: { prior, forward: model, observation },
      truth,
      describe: {
        shape, units: 'images in [-1, 1]', measurementSize: model.measurementSize, truth: truthSource, ...spec.describe(model),
      },
      fieldImage: (values, title) => ({ title, values: C === 1 ? values : values.subarray(0, H * W), height: H, width: W, colormap: 'gray', range: [-1, 1] }),
      observationImage: spec.observation(model, observation, shape),
      async metrics(particles, N) {
        const m = await imageMetrics(particles, N, truth, shape, frame ? { phaseRetrieval: frame } : {});
        const notes = ['psnr and ssim: on images mapped from [-1, 1] to [0, 1] and clipped; psnr and ssim are means over the particles, psnrMean and ssimMean those of the ensemble mean'];
        if (m.alignment) notes.push(`phase retrieval: each particle and the ensemble mean are scored after the ${m.alignment.split(' (')[0]} that best matches the truth (the usual protocol; the measurement cannot tell these apart)`);
        return { values: { psnr: m.psnr, psnrMean: m.psnrMean, ssim: m.ssim, ssimMean: m.ssimMean }, notes };
      },
      headline: (m) => `PSNR ${m.psnr.toFixed(2)} dB (ensemble mean ${m.psnrMean.toFixed(2)}), SSIM ${m.ssim.toFixed(3)} (mean ${m.ssimMean.toFixed(3)})`
        + (frame ? ' after alignment' : ''),
    };
  }
  return {
    name: spec.name,
    summary: spec.summary,
    description: spec.description,
    flags: { image: IMAGE_FLAG, ...spec.flags },
    sampleFlag: 'image',
    truthHelp: 'an image file (.png, .jpg: grey-scale, resized to the prior\'s size) or a .npy image in [-1, 1]',
    defaultPrior: FM_PRIOR_32,
    defaultNoise: DEFAULT_IMAGING_NOISE,
    noiseUnits: 'image units (images in [-1, 1])',
    // 32x32 images are cheap to evaluate: the ensemble methods run larger ensembles than on Navier-Stokes.
    sizes: (algorithm, backend) => (backend === 'cpu' && (algorithm === 'enkg' || algorithm === 'eki') ? { ensemble: 128 } : undefined),
    setup,
  };
}

const greyImage = (title: string, values: Float32Array, height: number, width: number): PanelImage =>
  ({ title, values, height, width, colormap: 'gray', range: [-1, 1] });

export const inpaintingEntry = imagingEntry({
  name: 'inpainting',
  summary: 'an image from its pixels outside a missing box (or a mask)',
  description: `Recovers an image from the pixels outside a missing square box (DPS's box
inpainting: a 16-pixel box at 32x32, drawn from --seed) or outside a mask of
your own, plus Gaussian noise, with a diffusion prior and forward evaluations only.`,
  flags: {
    box: { type: 'string', help: '--box MIN[,MAX]    side range of the missing box in pixels (default: half the image side)' },
    mask: { type: 'string', help: '--mask FILE        kept pixels instead of a box: a .npy (nonzero kept) or .png (white kept)' },
  },
  async model(flags, shape, noise, seed) {
    if (flags.box !== undefined && flags.mask !== undefined) throw new UsageError('--box and --mask are alternatives: give one');
    let box: [number, number] | undefined;
    if (flags.box !== undefined) {
      const parts = String(flags.box).split(',');
      if (parts.length > 2) throw new UsageError(`--box must be MIN or MIN,MAX, got '${flags.box}'`);
      const [lo, hi] = parts.map((p) => integerFlag(p, 'box', 1)!);
      box = [lo, hi ?? lo];
    }
    if (flags.mask !== undefined && !fs.existsSync(String(flags.mask))) throw new UsageError(`--mask ${flags.mask} does not exist`);
    try {
      return await Inpainting.load({ shape, noise, seed, ...(box ? { box } : {}), ...(flags.mask !== undefined ? { mask: String(flags.mask) } : {}) });
    } catch (error) {
      throw new UsageError(`${flags.mask !== undefined ? `--mask ${flags.mask}` : '--box'}: ${(error as Error).message}`);
    }
  },
  observation(model, y, [, H, W]) {
    // Missing pixels drawn mid-grey (0), the kept ones as observed.
    return greyImage('observed pixels', (model as Inpainting).observedImage(y, 0).subarray(0, H * W), H, W);
  },
  describe: (model) => ({ box: (model as Inpainting).box ?? 'mask', observedPixels: model.measurementSize }),
});

export const superResolutionEntry = imagingEntry({
  name: 'super-resolution',
  summary: 'an image from its bicubic down-sampling by 2 or 4',
  description: `Recovers an image from a bicubic down-sampling of it (PyTorch's
interpolate(mode='bicubic'), the paper's 4x by default) plus Gaussian noise,
with a diffusion prior and forward evaluations only.`,
  flags: { factor: { type: 'string', help: '--factor F         down-sampling factor, 2 or 4 (default 4, the paper\'s)' } },
  async model(flags, shape, noise) {
    const factor = integerFlag(flags.factor as string | undefined, 'factor', 2);
    if (factor !== undefined && factor !== 2 && factor !== 4) throw new UsageError(`--factor must be 2 or 4, got '${flags.factor}'`);
    try {
      return new SuperResolution({ shape, noise, ...(factor === undefined ? {} : { factor }) });
    } catch (error) {
      throw new UsageError(`--factor: ${(error as Error).message}`);
    }
  },
  observation(model, y, [, H, W]) {
    // Each low-resolution pixel drawn as a factor x factor block, at the truth's size.
    const { factor, lowShape: [, , w] } = model as SuperResolution;
    const blocks = new Float32Array(H * W);
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) blocks[i * W + j] = y[Math.floor(i / factor) * w + Math.floor(j / factor)];
    return greyImage(`low resolution (1/${factor})`, blocks, H, W);
  },
  describe: (model) => ({ factor: (model as SuperResolution).factor, lowShape: (model as SuperResolution).lowShape }),
});

export const deblurEntry = imagingEntry({
  name: 'deblur',
  summary: 'an image from a Gaussian blur of it',
  description: `Recovers an image from its Gaussian blur (reflect-padded) plus Gaussian noise,
with a diffusion prior and forward evaluations only. The default kernel is the
paper's 256-pixel one (61 pixels, std 3) with every length scaled by 32 / 256:
${DEFAULT_BLUR_KERNEL_SIZE} pixels, std ${DEFAULT_BLUR_STD}.`,
  flags: {
    'kernel-size': { type: 'string', help: `--kernel-size K    odd kernel side in pixels (default ${DEFAULT_BLUR_KERNEL_SIZE})` },
    'blur-std': { type: 'string', help: `--blur-std S       kernel std in pixels (default ${DEFAULT_BLUR_STD})` },
  },
  async model(flags, shape, noise) {
    const kernelSize = integerFlag(flags['kernel-size'] as string | undefined, 'kernel-size', 1);
    if (kernelSize !== undefined && kernelSize % 2 === 0) throw new UsageError(`--kernel-size must be odd, got '${flags['kernel-size']}'`);
    const std = numberFlag(flags['blur-std'] as string | undefined, 'blur-std', 0, true);
    return new GaussianBlur({ shape, noise, ...(kernelSize === undefined ? {} : { kernelSize }), ...(std === undefined ? {} : { std }) });
  },
  observation(model, y, [, H, W]) {
    return greyImage('blurred', y.subarray(0, H * W), H, W);
  },
  describe: (model) => ({ kernelSize: (model as GaussianBlur).kernelSize, std: (model as GaussianBlur).std }),
});

export const phaseRetrievalEntry = imagingEntry({
  name: 'phase-retrieval',
  summary: 'an image from the magnitude of its oversampled Fourier transform',
  description: `Recovers an image from |F(zero-pad(x))|, the magnitude of the 2D DFT of the
image zero-padded to twice its size (orthonormal), plus Gaussian noise, with a
diffusion prior and forward evaluations only. The magnitude cannot tell an
image from its negative, its 180-degree rotation or a shift of it: PSNR and
SSIM are reported after the best such alignment.`,
  flags: { oversample: { type: 'string', help: '--oversample S     padded frame / image side (default 2)' } },
  async model(flags, shape, noise) {
    const oversample = numberFlag(flags.oversample as string | undefined, 'oversample', 1);
    return new PhaseRetrieval({ shape, noise, ...(oversample === undefined ? {} : { oversample }) });
  },
  observation(model, y) {
    const pr = model as PhaseRetrieval;
    const [P, Q] = pr.frame;
    return { title: 'log(1+|F|) spectrum', values: pr.logMagnitude(y), height: P, width: Q, colormap: 'viridis' };
  },
  describe: (model) => ({ oversample: (model as PhaseRetrieval).oversample, frame: (model as PhaseRetrieval).frame }),
});

export const IMAGING_ENTRIES: readonly ProblemEntry[] = [inpaintingEntry, superResolutionEntry, deblurEntry, phaseRetrievalEntry];
