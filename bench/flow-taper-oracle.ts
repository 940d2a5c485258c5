// Is a flow-following taper worth building? (issue 18, bench/RESULTS.md)
// An ORACLE version at the paper's horizon: the observation points are carried
// back from T to 0 along the TRUE field's trajectory (16 solver snapshots, the
// velocity u = (psi_y, -psi_x) of each, RK1 steps with bilinear interpolation),
// and localized EnKG uses the traced points as its geometry's measurement
// points. With the truth's trajectory it is an upper bound on what a taper
// following the ensemble mean's trajectory could give; direction +1 (carried
// the wrong way) is the control.
//   node -r ts-node/register/transpile-only bench/flow-taper-oracle.ts FIELD T DIRECTION N C
//   (defaults 0 1 -1 64 0.2)
import { EnKG, heldOutField, navierStokesInverseProblem, NavierStokes2D, OnnxDenoiser, relativeL2Mean, spreadSkillRatio } from '../lib';
import { NS_PRIOR_64 } from '../lib/paths';

const R = 64;

/** Naive 2D DFT (sign -1 forward) of a real/complex R x R field: separable O(R^3). */
function dft2(re: Float64Array, im: Float64Array, sign: number): [Float64Array, Float64Array] {
  const c = new Float64Array(R * R), s = new Float64Array(R * R);
  for (let k = 0; k < R; k++) {
    for (let n = 0; n < R; n++) {
      c[k * R + n] = Math.cos(2 * Math.PI * k * n / R);
      s[k * R + n] = sign * Math.sin(2 * Math.PI * k * n / R);
    }
  }
  /** One 1D pass: out[k along the axis] = sum_n in[n] e^{sign 2 pi i k n / R}; `at(line, n)` is the flat index. */
  const pass = (inRe: Float64Array, inIm: Float64Array, at: (line: number, n: number) => number): [Float64Array, Float64Array] => {
    const outRe = new Float64Array(R * R), outIm = new Float64Array(R * R);
    for (let line = 0; line < R; line++) {
      for (let k = 0; k < R; k++) {
        let sr = 0, si = 0;
        for (let n = 0; n < R; n++) {
          const xr = inRe[at(line, n)], xi = inIm[at(line, n)], ck = c[k * R + n], sk = s[k * R + n];
          sr += xr * ck - xi * sk;
          si += xr * sk + xi * ck;
        }
        outRe[at(line, k)] = sr;
        outIm[at(line, k)] = si;
      }
    }
    return [outRe, outIm];
  };
  const [ar, ai] = pass(re, im, (i, j) => i * R + j); // along the second axis
  return pass(ar, ai, (j, i) => i * R + j); // along the first
}

/** Velocity (q along the first axis, v along the second) of a physical vorticity field, psi = w / |k|^2, q = psi_y, v = -psi_x. */
function velocity(w: Float32Array): [Float64Array, Float64Array] {
  const [wr, wi] = dft2(Float64Array.from(w), new Float64Array(R * R), -1);
  const qr = new Float64Array(R * R), qi = new Float64Array(R * R), vr = new Float64Array(R * R), vi = new Float64Array(R * R);
  for (let a = 0; a < R; a++) for (let b = 0; b < R; b++) {
    const kx = a <= R / 2 ? a : a - R, ky = b <= R / 2 ? b : b - R;
    const k2 = kx * kx + ky * ky;
    if (k2 === 0) continue;
    const pr = wr[a * R + b] / k2, pi = wi[a * R + b] / k2, p = a * R + b;
    qr[p] = -ky * pi; // i ky psi
    qi[p] = ky * pr;
    vr[p] = kx * pi; // -i kx psi
    vi[p] = -kx * pr;
  }
  const [q] = dft2(qr, qi, 1), [v] = dft2(vr, vi, 1);
  for (let p = 0; p < R * R; p++) {
    q[p] /= R * R;
    v[p] /= R * R;
  }
  return [q, v];
}

function interp(f: Float64Array, x: number, y: number): number {
  // x, y in grid units (periodic)
  const i0 = Math.floor(x), j0 = Math.floor(y), fx = x - i0, fy = y - j0;
  const at = (i: number, j: number) => f[(((i % R) + R) % R) * R + (((j % R) + R) % R)];
  return (1 - fx) * (1 - fy) * at(i0, j0) + fx * (1 - fy) * at(i0 + 1, j0) + (1 - fx) * fy * at(i0, j0 + 1) + fx * fy * at(i0 + 1, j0 + 1);
}

(async () => {
  const field = Number(process.argv[2] ?? 0), T = Number(process.argv[3] ?? 1), direction = Number(process.argv[4] ?? -1);
  const N = Number(process.argv[5] ?? 64), c = Number(process.argv[6] ?? 0.2);
  const truth = await heldOutField(field);
  const S = 16;
  const step = new NavierStokes2D({ resolution: R, time: T / S, downsample: 1, scale: 1, backend: 'cpu' });
  let w: Float32Array = Float32Array.from(truth, (v) => v * 10);
  const vel: Array<[Float64Array, Float64Array]> = [velocity(w)];
  for (let k = 0; k < S; k++) {
    w = await step.forward(w, 1);
    vel.push(velocity(w));
  }
  const h = 2 * Math.PI / R; // grid spacing in physical length
  const prior = await OnnxDenoiser.load(NS_PRIOR_64);
  const { problem } = await navierStokesInverseProblem({ prior, truth, noise: 0, seed: 1000 + field, backend: 'cpu', time: T });
  const q = problem.geometry!.measurementPoints, traced = new Float64Array(q.length);
  const sub = 4, dt = T / (S * sub);
  let moved = 0;
  for (let l = 0; l < q.length / 2; l++) {
    let x = q[2 * l] * R, y = q[2 * l + 1] * R; // grid units
    for (let k = S * sub; k > 0; k--) {
      const t = k * dt, snap = t / (T / S), s0 = Math.min(S - 1, Math.floor(snap - 1e-9)), f = snap - s0;
      const u = (1 - f) * interp(vel[s0][0], x, y) + f * interp(vel[s0 + 1][0], x, y);
      const v = (1 - f) * interp(vel[s0][1], x, y) + f * interp(vel[s0 + 1][1], x, y);
      // direction -1: back along the flow (characteristics), +1: the wrong way (a control)
      x += direction * u * dt / h;
      y += direction * v * dt / h;
    }
    const fx = ((x / R) % 1 + 1) % 1, fy = ((y / R) % 1 + 1) % 1;
    traced[2 * l] = fx;
    traced[2 * l + 1] = fy;
    const dx = Math.min(Math.abs(fx - q[2 * l]), 1 - Math.abs(fx - q[2 * l])), dy = Math.min(Math.abs(fy - q[2 * l + 1]), 1 - Math.abs(fy - q[2 * l + 1]));
    moved += Math.hypot(dx, dy) / (q.length / 2);
  }
  console.log(`mean displacement of the traced points: ${moved.toFixed(3)} of the domain (direction ${direction})`);
  const geometry = { fieldPoints: problem.geometry!.fieldPoints, measurementPoints: traced };
  const enkg = new EnKG({ ensembleSize: N, steps: 20, updates: 1, localization: { halfWidth: c } });
  const r = await enkg.solve({ ...problem, geometry }, { seed: field, backend: 'cpu' });
  console.log(`field ${field} T ${T} N ${N} c ${c} direction ${direction}: rel L2 (mean) ${relativeL2Mean(r.particles, N, truth).toFixed(3)}`,
    `spread-skill ${(await spreadSkillRatio(r.particles, N, truth)).toFixed(3)} misfit ${r.trace.at(-1)!.misfit.toPrecision(3)}`);
  await prior.dispose();
})();
