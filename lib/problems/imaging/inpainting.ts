// Box inpainting (the paper's imaging task of DPS, Chung et al. 2023):
// observe the pixels outside a box, or outside a user's mask. The
// measurement is the kept pixels, in C x H x W order.
import * as fs from 'node:fs';

import { native } from '../../binding';
import { decodeNpy } from '../../io/npy';
import { expected, requireInteger, requireKnownKeys, requireObject } from '../../validate';
import { ImagingOperator, ImagingOptions, requireShape, DEFAULT_IMAGE_SHAPE } from './operator';

export interface InpaintingOptions extends ImagingOptions {
  /**
   * [minSide, maxSide]: a missing square box of a side drawn from that
   * range and a location drawn inside `margin`, both from `seed`. Default
   * [H/2, H/2] (DPS's 128-pixel box at 256: 16 pixels at 32), when no mask.
   */
  box?: [number, number];
  /**
   * The kept pixels instead of a box: 1 (nonzero) kept, 0 missing; H x W
   * (the same for every channel) or C x H x W values. `Inpainting.load`
   * also takes a .npy or .png file.
   */
  mask?: Uint8Array;
  /** Seed of the box's side and location (default 0). */
  seed?: number;
  /** Pixels the box keeps from each edge (default round(H / 16): DPS's 16 at 256). */
  margin?: number;
}

export interface InpaintingFileOptions extends Omit<InpaintingOptions, 'mask'> {
  mask?: Uint8Array | string;
}

const KEYS = ['shape', 'noise', 'box', 'mask', 'seed', 'margin'] as const;

/** The box Inpainting drew: its side and the row and column of its top-left pixel. */
export interface InpaintingBox {
  side: number;
  top: number;
  left: number;
}

export class Inpainting extends ImagingOperator {
  readonly measurementSize: number;
  /** C x H x W: 1 where a pixel is observed. */
  readonly mask: Uint8Array;
  /** The drawn box, when the mask is one. */
  readonly box: InpaintingBox | undefined;
  protected readonly label = 'Inpainting';
  /** Indices (into C x H x W) of the kept pixels, in order. */
  private readonly kept: Int32Array;

  constructor(opts: InpaintingOptions = {}) {
    requireKnownKeys(requireObject(opts, 'Inpainting(options)'), KEYS, 'Inpainting');
    super(opts);
    const [C, H, W] = this.fieldShape;
    if (opts.mask !== undefined) {
      if (typeof opts.mask === 'string') {
        throw new TypeError(expected('a Uint8Array (for a .npy or .png file: await Inpainting.load(options))', 'mask', opts.mask));
      }
      if (!(opts.mask instanceof Uint8Array)) throw new TypeError(expected('a Uint8Array', 'mask', opts.mask));
      if (opts.box !== undefined) throw new TypeError(expected('either box or mask, not both', 'box', 'both given', true));
      if (opts.mask.length !== H * W && opts.mask.length !== C * H * W) {
        throw new RangeError(expected(`H x W = ${H * W} or C x H x W = ${C * H * W} values`, 'mask.length', opts.mask.length));
      }
      const src = opts.mask;
      this.mask = new Uint8Array(C * H * W);
      for (let i = 0; i < this.mask.length; i++) this.mask[i] = src[src.length === H * W ? i % (H * W) : i] !== 0 ? 1 : 0;
      this.box = undefined;
    } else {
      const margin = opts.margin === undefined ? Math.round(H / 16) : requireInteger(opts.margin, 'margin', 0);
      const room = Math.min(H, W) - 2 * margin;
      if (room < 1) throw new RangeError(expected(`a margin below min(H, W) / 2 = ${Math.min(H, W) / 2}`, 'margin', margin));
      const half = Math.max(1, Math.round(Math.min(H, W) / 2));
      const box = opts.box ?? [Math.min(half, room), Math.min(half, room)];
      if (!Array.isArray(box) || box.length !== 2 || !box.every((v) => Number.isSafeInteger(v))
        || box[0] < 1 || box[0] > box[1] || box[1] > room) {
        throw new RangeError(expected(`[minSide, maxSide], integers with 1 <= minSide <= maxSide <= ${room} (min(H, W) - 2 x margin)`,
          'box', Array.isArray(box) ? `[${box.map(String).join(', ')}]` : box, Array.isArray(box)));
      }
      const seed = opts.seed === undefined ? 0 : requireInteger(opts.seed, 'seed', 0);
      // Three Philox words: the side, then the row and column inside the margin.
      const words = native.philox4x32(new Uint32Array(4), new Uint32Array([seed % 2 ** 32, Math.floor(seed / 2 ** 32)]));
      const side = box[0] + (words[0] % (box[1] - box[0] + 1));
      const top = margin + (words[1] % (H - 2 * margin - side + 1));
      const left = margin + (words[2] % (W - 2 * margin - side + 1));
      this.box = { side, top, left };
      this.mask = new Uint8Array(C * H * W).fill(1);
      for (let c = 0; c < C; c++) {
        for (let i = top; i < top + side; i++) this.mask.fill(0, (c * H + i) * W + left, (c * H + i) * W + left + side);
      }
    }
    let count = 0;
    for (const v of this.mask) count += v;
    if (count === 0) throw new RangeError(expected('at least one kept (nonzero) pixel', 'mask', 'a mask of zeros', true));
    this.kept = new Int32Array(count);
    for (let i = 0, k = 0; i < this.mask.length; i++) if (this.mask[i]) this.kept[k++] = i;
    this.measurementSize = count;
  }

  /** Like the constructor, but `mask` may also be a .npy file (H x W values, any shape of that size) or a .png (grey > 127: kept). */
  static async load(opts: InpaintingFileOptions = {}): Promise<Inpainting> {
    requireKnownKeys(requireObject(opts, 'Inpainting.load(options)'), KEYS, 'Inpainting.load');
    if (typeof opts.mask !== 'string') return new Inpainting(opts as InpaintingOptions);
    const file = opts.mask;
    const [, H, W] = opts.shape === undefined ? DEFAULT_IMAGE_SHAPE : requireShape(opts.shape, 'shape');
    let mask: Uint8Array;
    if (/\.npy$/i.test(file)) {
      const npy = decodeNpy(await fs.promises.readFile(file), file);
      mask = Uint8Array.from(npy.data as ArrayLike<number>, (v) => (Number(v) !== 0 ? 1 : 0));
    } else if (/\.png$/i.test(file)) {
      const { default: sharp } = await import('sharp');
      const { data, info } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true }).catch((error: Error) => {
        throw new TypeError(expected('a readable PNG', 'mask', `${file} (${error.message})`, true));
      });
      if (info.width !== W || info.height !== H) {
        throw new RangeError(expected(`a ${H}x${W} mask image`, 'mask', `${file}, ${info.height}x${info.width}`, true));
      }
      mask = Uint8Array.from(data.subarray(0, H * W), (v) => (v > 127 ? 1 : 0));
    } else {
      throw new TypeError(expected('a Uint8Array or a .npy or .png file', 'mask', file));
    }
    return new Inpainting({ ...opts, mask });
  }

  protected applyOne(x: Float32Array, xOff: number, y: Float32Array, yOff: number): void {
    const kept = this.kept;
    for (let k = 0; k < kept.length; k++) y[yOff + k] = x[xOff + kept[k]];
  }

  protected adjointOne(_x: Float32Array, _xOff: number, r: Float32Array, rOff: number, g: Float32Array, gOff: number): void {
    const kept = this.kept;
    for (let k = 0; k < kept.length; k++) g[gOff + kept[k]] = r[rOff + k];
  }

  /** The observation as an image (missing pixels set to `fill`), for display. */
  observedImage(y: Float32Array, fill = 0): Float32Array {
    const image = new Float32Array(this.imageSize).fill(fill);
    for (let k = 0; k < this.kept.length; k++) image[this.kept[k]] = y[k];
    return image;
  }
}
