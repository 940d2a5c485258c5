// The cost of a taper that follows the flow, per Kalman step: one
// NavierStokes2D.traceBack of the ensemble mean (16 solver pieces and the
// native back-trace of the 32x32 observation points), timed on held-out
// field 0 at each horizon, with the mean distance the points moved
// (docs/method.md section 2, "A taper that follows the flow").
//   node -r ts-node/register/transpile-only bench/trace-back.ts [REPEATS]
import { heldOutField, NavierStokes2D } from '../lib';
import { gridGeometry } from '../lib/problems/navier-stokes-inverse';
import { torusDistance } from '../lib/algorithms/localization';
import { run } from './common';

run(async () => {
  const repeats = Number(process.argv[2] ?? 5);
  const truth = await heldOutField(0);
  const points = gridGeometry(64, 2).measurementPoints;
  console.log('horizon   median ms   mean displacement (domain units)');
  for (const time of [0.25, 0.5, 1]) {
    const model = new NavierStokes2D({ resolution: 64, time, backend: 'cpu' });
    await model.traceBack(truth, points); // warm-up: FFTW plans
    const ms: number[] = [];
    let sources = points;
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      sources = await model.traceBack(truth, points);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    let moved = 0;
    for (let l = 0; l < points.length / 2; l++) moved += torusDistance(points[2 * l], points[2 * l + 1], sources[2 * l], sources[2 * l + 1]);
    console.log(`T = ${String(time).padEnd(5)} ${ms[Math.floor(repeats / 2)].toFixed(1).padStart(9)}   ${(moved / (points.length / 2)).toFixed(3)}`);
  }
});
