// Figures without a graphics library: an RGB canvas with a 5x7 bitmap font,
// field images, and panels of titled images with colour bars, encoded by
// png.ts. Enough for a results panel a person can read; not a plotting package.
import { ColorMap, colorOf, encodePng } from './png';

// 5x7 glyphs, one number per row (top to bottom), bit 4 = leftmost pixel.
const GLYPHS: Record<string, number[]> = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '0': [14, 17, 19, 21, 25, 17, 14], '1': [4, 12, 4, 4, 4, 4, 14], '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14], '4': [2, 6, 10, 18, 31, 2, 2], '5': [31, 16, 30, 1, 1, 17, 14],
  '6': [6, 8, 16, 30, 17, 17, 14], '7': [31, 1, 2, 4, 8, 8, 8], '8': [14, 17, 17, 14, 17, 17, 14],
  '9': [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 31, 17, 17, 17], B: [30, 17, 17, 30, 17, 17, 30], C: [14, 17, 16, 16, 16, 17, 14],
  D: [28, 18, 17, 17, 17, 18, 28], E: [31, 16, 16, 30, 16, 16, 31], F: [31, 16, 16, 30, 16, 16, 16],
  G: [14, 17, 16, 23, 17, 17, 15], H: [17, 17, 17, 31, 17, 17, 17], I: [14, 4, 4, 4, 4, 4, 14],
  J: [7, 2, 2, 2, 2, 18, 12], K: [17, 18, 20, 24, 20, 18, 17], L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17], N: [17, 17, 25, 21, 19, 17, 17], O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16], Q: [14, 17, 17, 17, 21, 18, 13], R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30], T: [31, 4, 4, 4, 4, 4, 4], U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4], W: [17, 17, 17, 21, 21, 21, 10], X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 10, 4, 4, 4, 4], Z: [31, 1, 2, 4, 8, 16, 31],
  '.': [0, 0, 0, 0, 0, 12, 12], ',': [0, 0, 0, 0, 12, 4, 8], '-': [0, 0, 0, 31, 0, 0, 0],
  '+': [0, 4, 4, 31, 4, 4, 0], '=': [0, 0, 31, 0, 31, 0, 0], ':': [0, 12, 12, 0, 12, 12, 0],
  '/': [1, 1, 2, 4, 8, 16, 16], '(': [2, 4, 8, 8, 8, 4, 2], ')': [8, 4, 2, 2, 2, 4, 8],
  '%': [24, 25, 2, 4, 8, 19, 3], '|': [4, 4, 4, 4, 4, 4, 4], '_': [0, 0, 0, 0, 0, 0, 31],
  '?': [14, 17, 1, 2, 4, 0, 4],
};

export class Canvas {
  readonly rgb: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.rgb = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, [r, g, b]: readonly [number, number, number]): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const p = (y * this.width + x) * 3;
    this.rgb[p] = r;
    this.rgb[p + 1] = g;
    this.rgb[p + 2] = b;
  }

  /** Text in the 5x7 font (upper-cased; unknown characters print as '?'), `scale` pixels per font pixel. */
  text(x: number, y: number, text: string, scale = 1, color: readonly [number, number, number] = [0, 0, 0]): void {
    let cx = x;
    for (const ch of text.toUpperCase()) {
      const glyph = GLYPHS[ch] ?? GLYPHS['?'];
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (!(glyph[row] & (16 >> col))) continue;
          for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) this.set(cx + col * scale + dx, y + row * scale + dy, color);
        }
      }
      cx += 6 * scale;
    }
  }

  static textWidth(text: string, scale = 1): number {
    return text.length * 6 * scale - scale;
  }

  /** A field (row-major height x width) mapped through `colormap` over [lo, hi], each cell zoom x zoom pixels. */
  field(x: number, y: number, values: ArrayLike<number>, height: number, width: number, zoom: number,
    colormap: ColorMap, [lo, hi]: readonly [number, number]): void {
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const v = values[i * width + j];
        const color = Number.isFinite(v) ? colorOf(colormap, (v - lo) / (hi - lo)) : [255, 0, 255] as const;
        for (let dy = 0; dy < zoom; dy++) for (let dx = 0; dx < zoom; dx++) this.set(x + j * zoom + dx, y + i * zoom + dy, color);
      }
    }
  }

  png(): Buffer {
    return encodePng(this.width, this.height, this.rgb);
  }
}

/** The finite min and max of values; for a diverging map, symmetric about 0. */
export function valueRange(values: ArrayLike<number>, colormap: ColorMap): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (colormap === 'diverging') {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    [lo, hi] = [-m, m];
  }
  return hi > lo ? [lo, hi] : [lo - 1, lo + 1];
}

/** A short tick label: 3 significant digits, exponent form outside [1e-2, 1e4). */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-2 && a < 1e4) return String(Number(v.toPrecision(3)));
  return v.toExponential(1).replace('e+', 'e');
}

export interface PanelImage {
  title: string;
  values: ArrayLike<number>;
  height: number;
  width: number;
  colormap: ColorMap;
  /** Colour range; by default the image's own (symmetric for 'diverging'). */
  range?: [number, number];
}

const BAR_WIDTH = 10;
const LABEL_SPACE = 44;

function imageSize(image: PanelImage, zoom: number): { w: number; h: number } {
  return { w: image.width * zoom + 6 + BAR_WIDTH + 4 + LABEL_SPACE, h: 14 + image.height * zoom };
}

// Draws one titled image with its colour bar and min / mid / max labels at (x, y).
function drawImage(canvas: Canvas, x: number, y: number, image: PanelImage, zoom: number): void {
  const range = image.range ?? valueRange(image.values, image.colormap);
  const [lo, hi] = range;
  canvas.text(x, y, image.title);
  const top = y + 14, h = image.height * zoom;
  canvas.field(x, top, image.values, image.height, image.width, zoom, image.colormap, range);
  const barX = x + image.width * zoom + 6;
  for (let row = 0; row < h; row++) {
    const color = colorOf(image.colormap, 1 - row / Math.max(1, h - 1));
    for (let c = 0; c < BAR_WIDTH; c++) canvas.set(barX + c, top + row, color);
  }
  const labelX = barX + BAR_WIDTH + 4;
  canvas.text(labelX, top, tickLabel(hi));
  canvas.text(labelX, top + Math.floor(h / 2) - 3, tickLabel((lo + hi) / 2));
  canvas.text(labelX, top + h - 7, tickLabel(lo));
}

/** Images side by side, each with a title above and a colour bar with its range to the right. */
export function panelPng(images: PanelImage[], opts: { zoom?: number; caption?: string } = {}): Buffer {
  const zoom = opts.zoom ?? Math.max(1, Math.round(192 / Math.max(...images.map((i) => Math.max(i.height, i.width)))));
  const gap = 10, margin = 8;
  const sizes = images.map((i) => imageSize(i, zoom));
  const captionHeight = opts.caption ? 14 : 0;
  const width = margin * 2 + sizes.reduce((s, z) => s + z.w, 0) + gap * (images.length - 1);
  const height = margin * 2 + Math.max(...sizes.map((z) => z.h)) + captionHeight;
  const canvas = new Canvas(Math.max(width, margin * 2 + Canvas.textWidth(opts.caption ?? '')), height);
  let x = margin;
  images.forEach((image, k) => {
    drawImage(canvas, x, margin, image, zoom);
    x += sizes[k].w + gap;
  });
  if (opts.caption) canvas.text(margin, height - margin - 7, opts.caption);
  return canvas.png();
}

/** One titled image with its colour bar. */
export function imagePng(image: PanelImage, zoom?: number): Buffer {
  return panelPng([image], { zoom });
}
