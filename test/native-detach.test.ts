// The native fuzz case for detached buffers: a caller that transfers the
// ArrayBuffer under an argument (structuredClone or postMessage with a
// transfer list) while a native call is still running, and then lets the
// new owner be collected. Before the boundary pinned its arguments the
// worker wrote into freed memory and the process died (SIGSEGV), so each run
// is a child process: a crash fails this test, not the suite.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const runner = `
const { native } = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib', 'binding'))});
const { MessageChannel } = require('node:worker_threads');
const F = (n) => new Float32Array(n);
const normal = (n) => { const a = F(n); for (let i = 0; i < n; i++) a[i] = Math.sin(i * 12.9898) * 2; return a; };
// Both routes a caller has to give an ArrayBuffer away; a refusal (Node >= 21) is also safe.
function giveAway(array) {
  for (const move of [
    () => structuredClone(array.buffer, { transfer: [array.buffer] }),
    () => { const { port1, port2 } = new MessageChannel(); try { port1.postMessage(array, [array.buffer]); } finally { port1.close(); port2.close(); } },
  ]) {
    try { move(); } catch (error) { if (error.name !== 'DataCloneError') throw error; }
  }
}
const R = 64, fields = 256, big = 1 << 22;
const cases = {
  randomNormal: () => { const out = F(big); return [native.randomNormal('cpu', out, big / 64, 64, 1, 0), out]; },
  randomUniform: () => { const out = F(big); return [native.randomUniform('cpu', out, big / 64, 64, 1, 0), out]; },
  gaussianRandomField: () => { const out = F(fields * R * R); return [native.gaussianRandomField('cpu', out, fields, { resolution: R, alpha: 2, tau: 3, seed: 1 }), out]; },
  shellSpectrum: () => { const x = normal(fields * R * R); return [native.shellSpectrum(x, fields, R), x]; },
  spectralFilter: () => {
    const x = normal(fields * R * R), out = F(x.length), gains = new Float64Array(R * (R / 2 + 1)).fill(0.5);
    return [native.spectralFilter(x, fields, R, gains, out), x, out, gains];
  },
  paddedDftMagnitude: () => {
    const frame = { shape: [1, 32, 32], frame: [64, 64], offset: [16, 16] }, x = normal(fields * 1024), out = F(fields * 4096);
    return [native.paddedDftMagnitude(x, fields, frame, out), x, out];
  },
  paddedDftMagnitudeAdjoint: () => {
    const frame = { shape: [1, 32, 32], frame: [64, 64], offset: [16, 16] };
    const x = normal(fields * 1024), r = normal(fields * 4096), out = F(fields * 1024);
    return [native.paddedDftMagnitudeAdjoint(x, r, fields, frame, out), x, r, out];
  },
  navierStokesSolve: () => {
    const w0 = normal(16 * R * R), out = F(w0.length), cancel = new Int32Array(1);
    const options = { resolution: R, reynolds: 100, time: 0.2, adaptive: true, dt: 0.01, dtMode: 'batch', forcing: 'kolmogorov', precision: 'float32', cancel };
    return [native.navierStokesSolve('cpu', w0, 16, options, out), w0, out, cancel];
  },
  kalmanStep: () => {
    const N = 256, d = 1 << 15, m = 64;
    const x = normal(N * d), y = normal(N * m), r = normal(N * m), out = F(N * d);
    return [native.kalmanStep('cpu', x, y, r, N, 1, out), x, y, r, out];
  },
  localizedKalmanStep: () => {
    const N = 64, d = 4096, m = 1024;
    const x = normal(N * d), y = normal(N * m), r = normal(N * m), rho = F(d * m).fill(0.5), out = F(N * d);
    return [native.localizedKalmanStep(x, y, r, N, 1, 'unlocalized', rho, out), x, y, r, rho, out];
  },
  localizedKalmanStepGrid: () => {
    const N = 32, d = R * R, m = d / 4;
    const x = normal(N * d), y = normal(N * m), r = normal(N * m), kernel = F(d).fill(0.5), out = F(N * d);
    const index = Int32Array.from({ length: m }, (_, l) => 4 * l);
    return [native.localizedKalmanStepGrid(x, y, r, N, 1, 'unlocalized', R, kernel, index, out), x, y, r, kernel, index, out];
  },
  gaspariCohnTaper: () => {
    const p = Float64Array.from({ length: 2 * 4096 }, (_, i) => (i % 64) / 64), q = p.slice(0, 2 * 1024), out = F(4096 * 1024);
    return [native.gaspariCohnTaper(p, q, 0.2, out), p, q, out];
  },
  regularizedResiduals: () => {
    const N = 256, m = 1024;
    const y = normal(N * m), r = normal(N * m).reverse(), sizes = new Float64Array(N).fill(m), out = F(N * m);
    return [native.regularizedResiduals(y, r, N, 'adaptive', 0.5, sizes, out), y, r, sizes, out];
  },
  ensembleMean: () => { const x = normal(big), out = F(big / 256); return [native.ensembleMean('cpu', x, 256, out), x, out]; },
  ensembleCovarianceTrace: () => { const x = normal(big); return [native.ensembleCovarianceTrace('cpu', x, 256), x]; },
  'NativeEnsemble.load/read/mean/step': async () => {
    const N = 256, d = big / 256, m = 64;
    const ensemble = new native.NativeEnsemble('cpu', N, d);
    // The four calls below run in any order: the particles hold finite values first.
    await ensemble.load(normal(N * d));
    const x = normal(N * d), out = F(N * d), mean = F(d), y = normal(N * m), r = normal(N * m);
    const done = Promise.all([ensemble.load(x), ensemble.read(out), ensemble.mean(mean), ensemble.step(y, r, 1)]);
    return [done, x, out, mean, y, r];
  },
};
(async () => {
  const report = {};
  for (const [name, start] of Object.entries(cases)) {
    const intact = [];
    for (let round = 0; round < 2; round++) {
      const [promise, ...arrays] = await start();
      for (const array of arrays) giveAway(array);
      for (let i = 0; i < 3; i++) global.gc();
      await promise;
      for (let i = 0; i < 3; i++) global.gc();
      intact.push(arrays.every((a) => a.length > 0 && a.buffer.byteLength > 0));
    }
    report[name] = intact.every(Boolean);
  }
  process.stdout.write(JSON.stringify(report));
})().catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(3); });`;

describe('a caller that transfers a buffer during a native call', () => {
  it('cannot crash the process: every entry point keeps its arrays attached and the child exits 0', () => {
    const run = spawnSync(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', '-e', runner], {
      encoding: 'utf8', maxBuffer: 1 << 20, timeout: 240_000,
    });
    expect({ signal: run.signal, status: run.status, stderr: run.stderr.slice(-2000) }).toEqual({ signal: null, status: 0, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual({
      randomNormal: true, randomUniform: true, gaussianRandomField: true, shellSpectrum: true, spectralFilter: true,
      paddedDftMagnitude: true, paddedDftMagnitudeAdjoint: true,
      navierStokesSolve: true, kalmanStep: true, localizedKalmanStep: true, localizedKalmanStepGrid: true, gaspariCohnTaper: true,
      regularizedResiduals: true, ensembleMean: true, ensembleCovarianceTrace: true,
      'NativeEnsemble.load/read/mean/step': true,
    });
  }, 300_000);
});
