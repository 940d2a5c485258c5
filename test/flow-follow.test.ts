// A taper that follows the flow (docs/method.md section 2): the native
// tracer against flows whose characteristics are known in closed form, the
// Navier-Stokes model's traceBack against the exact forced shear flow, and
// localization's `follow` option as runs use it.
import { EnKG, ForwardEvaluationError, NavierStokes2D, ProblemGeometry } from '../lib';
import { callNative, native } from '../lib/binding';
import { gridGeometry } from '../lib/problems/navier-stokes-inverse';
import { gridSelectionProblem } from './helpers/linear';

/** count snapshots of the shear vorticity w = a_k cos(y) on an R x R grid (axis 1 is y). */
function shear(R: number, amplitudes: number[]): Float32Array {
  const w = new Float32Array(amplitudes.length * R * R);
  amplitudes.forEach((a, k) => {
    for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) w[(k * R + i) * R + j] = a * Math.cos((2 * Math.PI * j) / R);
  });
  return w;
}

describe('flowTraceBack', () => {
  const R = 32;
  // Points on grid columns, anywhere along the rows: w = a cos(y) gives psi = a cos(y), u = (psi_y, -psi_x) =
  // (-a sin(y), 0), so a point keeps its column and came from x + (integral of a) sin(y) (physical units).
  const points = Float64Array.from([0.1, 0, 0.5, 3 / 32, 0.93, 8 / 32, 0.25, 20 / 32, 0.999, 27 / 32]);

  async function trace(snapshots: Float32Array, count: number, time: number, substeps = 4): Promise<Float64Array> {
    const out = new Float64Array(points.length);
    await callNative(() => native.flowTraceBack(snapshots, count, R, time, points, substeps, out));
    return out;
  }

  function expectShifted(out: Float64Array, integral: number): void {
    for (let l = 0; l < points.length / 2; l++) {
      const y = points[2 * l + 1];
      const want = (((points[2 * l] + (integral * Math.sin(2 * Math.PI * y)) / (2 * Math.PI)) % 1) + 1) % 1;
      const dx = Math.abs(out[2 * l] - want);
      expect(Math.min(dx, 1 - dx)).toBeLessThan(1e-6);
      expect(out[2 * l + 1]).toBeCloseTo(y, 12);
    }
  }

  it('carries points back along a steady shear flow', async () => {
    expectShifted(await trace(shear(R, [1.5, 1.5]), 2, 0.8), 1.5 * 0.8);
  });

  it('follows a flow that changes between snapshots (linear in time: exact with Heun steps)', async () => {
    // a(t) = 1 + 2 t on [0, 1] in 4 pieces: the integral is 2.
    const out = await trace(shear(R, [1, 1.5, 2, 2.5, 3]), 5, 1, 3);
    expectShifted(out, 2);
  });

  it('moves points along the second axis in a shear across the first (w = a cos(x): u = (0, a sin(x)))', async () => {
    const w = new Float32Array(2 * R * R);
    for (let k = 0; k < 2; k++) for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) w[(k * R + i) * R + j] = 1.5 * Math.cos((2 * Math.PI * i) / R);
    const rows = Float64Array.from([0, 0.1, 3 / 32, 0.5, 8 / 32, 0.93, 20 / 32, 0.25]);
    const out = new Float64Array(rows.length);
    await callNative(() => native.flowTraceBack(w, 2, R, 0.8, rows, 4, out));
    for (let l = 0; l < rows.length / 2; l++) {
      const x = rows[2 * l];
      const want = (((rows[2 * l + 1] - (1.5 * 0.8 * Math.sin(2 * Math.PI * x)) / (2 * Math.PI)) % 1) + 1) % 1;
      const dy = Math.abs(out[2 * l + 1] - want);
      expect(Math.min(dy, 1 - dy)).toBeLessThan(1e-6);
      expect(out[2 * l]).toBeCloseTo(x, 12);
    }
  });

  it('refuses a trace whose steps jump more than the domain (a huge time) instead of returning a wrapped guess', async () => {
    await expect(trace(shear(R, [1.5, 1.5]), 2, 1e300)).rejects.toThrow(/Expected steps that move no point by more than the domain \(more substeps, or a shorter time\) for the flow trace but received a step of more than 32 cells/);
  });

  it('leaves points where they are in a fluid at rest, and wraps coordinates into [0, 1)', async () => {
    expect(Array.from(await trace(new Float32Array(2 * R * R), 2, 1))).toEqual(Array.from(points));
    const out = await trace(shear(R, [10, 10]), 2, 1); // up to 51 cells: round the torus and more
    expect(out.every((v) => v >= 0 && v < 1)).toBe(true);
  });

  it('refuses bad arguments with the one message form', async () => {
    const out = new Float64Array(points.length);
    expect(() => native.flowTraceBack(shear(R, [1]), 1, R, 1, points, 4, out)).toThrow('at least 2 snapshots');
    expect(() => native.flowTraceBack(shear(R, [1, 1]), 2, R, 1, points, 4, new Float64Array(2)))
      .toThrow(`Expected ${points.length} coordinates (the length of points) for out.length but received 2`);
    expect(() => native.flowTraceBack(shear(R, [1, 1, 1]), 2, R, 1, points, 4, out)).toThrow('snapshots.length');
    const bad = shear(R, [1, 1]);
    bad[7] = NaN;
    await expect(native.flowTraceBack(bad, 2, R, 1, points, 4, out)).rejects.toThrow('snapshots');
  });
});

describe('NavierStokes2D.traceBack', () => {
  it('matches the exact forced shear flow started from rest', async () => {
    // From w = 0 the Kolmogorov forcing f = -4 cos(4y) drives w = -4 cos(4y) g(t), g' = 1 - 16 g / Re (the
    // nonlinear term vanishes for a shear), so u = (g sin(4y), 0) and a point came from
    // x - sin(4y) (Re / 16) (T - (Re / 16)(1 - e^(-16 T / Re))).
    const R = 32, Re = 200, T = 1;
    const model = new NavierStokes2D({ resolution: R, reynolds: Re, time: T, backend: 'cpu' });
    const points = Float64Array.from([0.3, 1 / 32, 0.7, 5 / 32, 0.05, 11 / 32, 0.5, 0]);
    const traced = await model.traceBack(new Float32Array(R * R), points);
    const c = Re / 16, integral = c * (T - c * (1 - Math.exp(-T / c)));
    for (let l = 0; l < points.length / 2; l++) {
      const y = points[2 * l + 1];
      const want = (((points[2 * l] - (integral * Math.sin(4 * 2 * Math.PI * y)) / (2 * Math.PI)) % 1) + 1) % 1;
      const dx = Math.abs(traced[2 * l] - want);
      expect(Math.min(dx, 1 - dx)).toBeLessThan(2e-4);
      expect(traced[2 * l + 1]).toBeCloseTo(y, 6);
    }
    await expect(model.traceBack(new Float32Array(5), points)).rejects.toThrow('one field of resolution^2 = 1024 floats');
  });
});

describe("localization's follow option", () => {
  const problem = (sources?: ProblemGeometry['measurementSources']) =>
    gridSelectionProblem({ ...gridGeometry(8, 2), ...(sources ? { measurementSources: sources } : {}) });

  it('is recorded only when on, needs the dense taper and the problem\'s measurementSources', async () => {
    expect(new EnKG({ localization: { halfWidth: 0.2, follow: true } }).config.localization)
      .toEqual({ halfWidth: 0.2, normalize: 'unlocalized', method: 'auto', follow: true });
    expect(new EnKG({ localization: { halfWidth: 0.2, follow: false } }).config.localization)
      .toEqual({ halfWidth: 0.2, normalize: 'unlocalized', method: 'auto' });
    expect(() => new EnKG({ localization: { halfWidth: 0.2, follow: true, method: 'fft' } }))
      .toThrow("Expected method 'auto' or 'dense' (a taper that follows the flow has no grid form) for EnKG localization.method but received 'fft'");
    expect(() => new EnKG({ localization: { halfWidth: 0.2, follow: 'yes' as unknown as boolean } }))
      .toThrow('Expected a boolean for EnKG localization.follow');
    await expect(new EnKG({ ensembleSize: 4, steps: 2, localization: { halfWidth: 0.2, follow: true } }).solve(await problem()))
      .rejects.toThrow('EnKG localization.follow needs problem.geometry.measurementSources');
  });

  it('with sources at the measurement points is the plain localized run, and asks for them at the mean of the clean estimates', async () => {
    const seen: Float32Array[] = [];
    const p = await problem(async (x) => {
      seen.push(x.slice());
      return gridGeometry(8, 2).measurementPoints;
    });
    const enkg = (follow: boolean) => new EnKG({ ensembleSize: 8, steps: 6, updates: 2, localization: { halfWidth: 0.2, method: 'dense', follow } });
    const followed = await enkg(true).solve(p, { seed: 3 });
    const plain = await enkg(false).solve(p, { seed: 3 });
    let worst = 0;
    for (let k = 0; k < plain.particles.length; k++) worst = Math.max(worst, Math.abs(followed.particles[k] - plain.particles[k]));
    expect(worst).toBeLessThan(1e-5);
    // One call per Kalman step (U = 2 on each of the guided steps), each with one field of d = 64 values.
    expect(seen.length).toBe(followed.trace.length);
    expect(seen.every((x) => x.length === 64 && x.every(Number.isFinite))).toBe(true);
    expect(followed.trace.every((t) => t.sourceShift === 0)).toBe(true);
    expect(plain.trace.every((t) => t.sourceShift === undefined)).toBe(true);
  });

  it('moves the taper with the sources, and refuses sources of the wrong size or not finite', async () => {
    const half = gridGeometry(8, 2).measurementPoints.map((v, i) => (i % 2 === 0 ? (v + 0.25) % 1 : v));
    const shifted = await new EnKG({ ensembleSize: 8, steps: 4, localization: { halfWidth: 0.1, follow: true } })
      .solve(await problem(async () => half), { seed: 3 });
    expect(shifted.trace.at(-1)!.sourceShift).toBeCloseTo(0.25, 10);
    const plain = await new EnKG({ ensembleSize: 8, steps: 4, localization: { halfWidth: 0.1 } }).solve(await problem(), { seed: 3 });
    let differs = 0;
    for (let k = 0; k < plain.particles.length; k++) differs = Math.max(differs, Math.abs(shifted.particles[k] - plain.particles[k]));
    expect(differs).toBeGreaterThan(1e-3);
    await expect(new EnKG({ ensembleSize: 4, steps: 2, localization: { halfWidth: 0.2, follow: true } })
      .solve(await problem(async () => new Float64Array(3)), { seed: 1 }))
      .rejects.toThrow('Expected 2 m = 32 coordinates (a Float64Array) for problem.geometry.measurementSources(x) but received 3');
    // The mean's own forward solve failing keeps the taper on the measurement points for that step; other errors end the run.
    const failing = await new EnKG({ ensembleSize: 4, steps: 2, localization: { halfWidth: 0.2, follow: true } })
      .solve(await problem(async () => { throw new ForwardEvaluationError('the mean blew up', [], new Float32Array(16)); }), { seed: 1 });
    expect(failing.trace.every((t) => t.sourceShift === 0)).toBe(true);
    await expect(new EnKG({ ensembleSize: 4, steps: 2, localization: { halfWidth: 0.2, follow: true } })
      .solve(await problem(async () => { throw new Error('disk on fire'); }), { seed: 1 })).rejects.toThrow('disk on fire');
    await expect(new EnKG({ ensembleSize: 4, steps: 2, localization: { halfWidth: 0.2, follow: true } })
      .solve(await problem(async () => new Float64Array(32).fill(NaN)), { seed: 1 }))
      .rejects.toThrow('Expected finite coordinates for problem.geometry.measurementSources(x) but received NaN at element 0');
  });
});
