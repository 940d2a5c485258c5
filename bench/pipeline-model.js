// The CPU-heavy forward function of bench/pipeline.ts, plain JavaScript so a
// worker thread and a child process load it as they are: per field, WORK
// sweeps of a nonlinear smoothing map, then 8 moments of the result.
'use strict';

const M = 8;

function heavy(x, index, work = Number(process.env.PIPELINE_WORK ?? 400)) {
  let u = Float64Array.from(x);
  let v = new Float64Array(u.length);
  for (let s = 0; s < work; s++) {
    for (let j = 0; j < u.length; j++) {
      const left = u[j === 0 ? u.length - 1 : j - 1], right = u[j === u.length - 1 ? 0 : j + 1];
      v[j] = Math.tanh(0.5 * (left + right) + 0.1 * Math.sin(u[j]));
    }
    [u, v] = [v, u];
  }
  const y = new Float64Array(M);
  for (let j = 0; j < u.length; j++) y[j % M] += u[j] / (u.length / M);
  return y;
}

module.exports = heavy;
module.exports.M = M;
