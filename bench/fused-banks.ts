// Shared-memory bank conflicts of the fused Navier-Stokes kernel's transform
// phases (native/core/navier_stokes_fused.h, LineFft), counted from the
// addresses one warp touches: 32 / G lines of a transform, G = R / 16 lanes
// each, 32 banks of 4 bytes. Prints the worst conflict degree of each phase
// (1 = conflict-free) for the kernel's layout and for the plain one (row
// stride R + 2, parking slot g + G k2). A model of the code's index
// arithmetic, kept next to it: change one, change the other.
//
//   npx ts-node bench/fused-banks.ts
const E = 16;

type Park = (g: number, k2: number, G: number) => number;
const plainPark: Park = (g, k2, G) => g + G * k2;
const rotatedPark: Park = (g, k2, G) => ((g + k2) % G) + G * k2; // LineFft::parked
const kernelStride = (R: number): number => (R === 128 ? R + 4 : R + 3); // Grid<R>::S

function degree(addresses: number[]): number {
  const banks = new Map<number, Set<number>>();
  for (const a of addresses) {
    if (!banks.has(a % 32)) banks.set(a % 32, new Set());
    banks.get(a % 32)!.add(a);
  }
  return Math.max(...[...banks.values()].map((s) => s.size));
}

function phases(R: number, S: number, park: Park): Record<string, number> {
  const G = R / E;
  const lanes = Array.from({ length: 32 }, (_, t) => ({ line: Math.floor(t / G), lane: t % G }));
  const layouts = {
    columns: (line: number, e: number) => 2 * line + e * S, // real parts; imaginary parts are the next word
    rows: (line: number, e: number) => 2 * S * line + e,    // row pair: Re in row 2r, Im in row 2r + 1
  };
  const out: Record<string, number> = {};
  for (const [name, at] of Object.entries(layouts)) {
    const worst = (sets: number[][]) => Math.max(...sets.map(degree));
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    out[`${name} load`] = worst(range(E).map((e) => lanes.map(({ line, lane }) => at(line, lane + G * e))));
    out[`${name} park`] = worst(range(E).map((k2) => lanes.map(({ line, lane }) => at(line, park(lane, k2, G)))));
    out[`${name} gather`] = worst(range(G).flatMap((g) => range(E / G).map((c) =>
      lanes.map(({ line, lane }) => at(line, park(g, lane + G * c, G))))));
    out[`${name} store`] = worst(range(E / G).flatMap((c) => range(G).map((k1) =>
      lanes.map(({ line, lane }) => at(line, lane + G * c + E * k1)))));
  }
  return out;
}

for (const R of [16, 32, 64, 128]) {
  for (const [label, S, park] of [['kernel', kernelStride(R), rotatedPark], ['plain', R + 2, plainPark]] as const) {
    const p = phases(R, S, park);
    console.log(`${String(R).padStart(3)}^2 ${label.padEnd(6)} stride ${S}: ` +
      Object.entries(p).map(([k, v]) => `${k} ${v}`).join(', '));
  }
}
