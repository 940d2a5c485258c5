// PNG output for fields and sample grids: an 8-bit RGB encoder (zlib from
// node:zlib) and the colour maps enkg draws with.
import * as zlib from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** A PNG file of an 8-bit RGB image (width x height x 3 bytes, row-major). */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`Expected ${width * height * 3} bytes for a ${width}x${height} RGB image but received ${rgb.length}`);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    raw[y * (1 + width * 3)] = 0; // filter: none
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (1 + width * 3) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0)),
  ]);
}

export type ColorMap = 'diverging' | 'gray' | 'viridis';

// Anchor colours, interpolated linearly.
const MAPS: Record<ColorMap, Array<[number, number, number]>> = {
  // blue - white - red, symmetric around the middle (for signed fields such as vorticity)
  diverging: [[5, 48, 97], [67, 147, 195], [247, 247, 247], [214, 96, 77], [103, 0, 31]],
  gray: [[0, 0, 0], [255, 255, 255]],
  // a perceptually ordered sequential map (viridis anchors)
  viridis: [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
};

/** The colour of t in [0, 1] under a map. */
export function colorOf(map: ColorMap, t: number): [number, number, number] {
  const anchors = MAPS[map];
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (anchors.length - 1);
  const i = Math.min(anchors.length - 2, Math.floor(u));
  const f = u - i;
  const a = anchors[i], b = anchors[i + 1];
  return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
}

export interface GridOptions {
  /** Fields to draw, count x height x width. */
  fields: Float32Array;
  count: number;
  height: number;
  width: number;
  colormap: ColorMap;
  /** Value range; default: symmetric [-m, m] for 'diverging', [min, max] otherwise. */
  range?: [number, number];
  columns?: number;
  /** Pixels per field value (default: enough for about 128 px per field). */
  zoom?: number;
}

/** The fields as a grid of coloured tiles separated by 2 px of white, as PNG. */
export function fieldGridPng(opts: GridOptions): Buffer {
  const { fields, count, height, width, colormap } = opts;
  const columns = opts.columns ?? Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / columns);
  const zoom = opts.zoom ?? Math.max(1, Math.round(128 / Math.max(height, width)));
  let [lo, hi] = opts.range ?? [Infinity, -Infinity];
  if (opts.range === undefined) {
    for (const v of fields) {
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (colormap === 'diverging') {
      const m = Math.max(Math.abs(lo), Math.abs(hi));
      [lo, hi] = [-m, m];
    }
    if (!(hi > lo)) [lo, hi] = [lo - 1, lo + 1];
  }
  const pad = 2;
  const W = columns * (width * zoom + pad) + pad, H = rows * (height * zoom + pad) + pad;
  const rgb = new Uint8Array(W * H * 3).fill(255);
  for (let n = 0; n < count; n++) {
    const x0 = pad + (n % columns) * (width * zoom + pad), y0 = pad + Math.floor(n / columns) * (height * zoom + pad);
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const [r, g, b] = colorOf(colormap, (fields[(n * height + i) * width + j] - lo) / (hi - lo));
        for (let dy = 0; dy < zoom; dy++) {
          for (let dx = 0; dx < zoom; dx++) {
            const p = ((y0 + i * zoom + dy) * W + x0 + j * zoom + dx) * 3;
            rgb[p] = r;
            rgb[p + 1] = g;
            rgb[p + 2] = b;
          }
        }
      }
    }
  }
  return encodePng(W, H, rgb);
}
