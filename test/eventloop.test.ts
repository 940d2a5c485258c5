// Heavy native work runs in async workers: the event loop keeps turning.
import { kalmanStep, randomNormal } from '../lib';

describe('the event loop during a large Kalman step', () => {
  it('keeps firing a 10 ms interval while the step runs', async () => {
    const N = 1024, d = 128 * 128, m = 64 * 64;
    // Inputs come from the native generator: filling 25M floats in JavaScript
    // inside jest's vm context takes most of a minute.
    const args = {
      particles: await randomNormal({ count: d, streams: N, seed: 1 }),
      measurements: await randomNormal({ count: m, streams: N, seed: 2 }),
      residuals: await randomNormal({ count: m, streams: N, seed: 3 }),
      ensembleSize: N, stepScale: 1, backend: 'cpu' as const,
    };
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 10);
    const started = Date.now();
    const pending = kalmanStep(args);
    const returnedAfter = Date.now() - started;
    await pending;
    const elapsed = Date.now() - started;
    clearInterval(timer);
    // The call returns a promise at once; the step takes long enough to
    // matter, and a blocked loop would have fired the interval at most once.
    expect(returnedAfter).toBeLessThan(50);
    expect(elapsed).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 10 / 4));
  });
});
