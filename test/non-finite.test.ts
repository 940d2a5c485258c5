// Work that would produce non-finite values does not report success: the
// input is refused up front where that can be known, else the call fails
// naming the output. And a configuration that would guide nothing is refused.
import {
  Ensemble, EnKG, gaussianRandomField, GaussianRandomFieldPrior, kalmanStep, NS_PRIOR_64, OnnxDenoiser, SCG,
} from '../lib';

describe('non-finite outputs are refused or reported, never returned', () => {
  it('refuses GRF spectrum parameters whose fields would be NaN (tau^(alpha - 1) overflows) before any work', async () => {
    const message = 'Expected alpha and tau whose spectrum has finite float32 fields for alpha and tau but received '
      + 'alpha 500, tau 7 (a mode amplitude of NaN at resolution 16)';
    await expect(gaussianRandomField({ resolution: 16, count: 2, alpha: 500, tau: 7, seed: 1 }))
      .rejects.toThrow(new RangeError(message));
    expect(() => new GaussianRandomFieldPrior({ resolution: 16, alpha: 500, tau: 7 })).toThrow(new RangeError(message));
    // Ordinary parameters still draw finite fields.
    const fields = await gaussianRandomField({ resolution: 16, count: 2, alpha: 2.5, tau: 7, seed: 1 });
    expect(fields.every(Number.isFinite)).toBe(true);
  });

  it('refuses sigma 0 for an ONNX prior, whose conditioning ln(sigma) is -Infinity there (it returned NaN)', async () => {
    const prior = await OnnxDenoiser.load(NS_PRIOR_64, { executionProviders: ['cpu'] });
    try {
      await expect(prior.denoise(new Float32Array(64 * 64).fill(0.1), 0, 1)).rejects.toThrow(new RangeError(
        'Expected noise levels > 0 (the network is conditioned on ln(sigma)) for sigma but received 0'));
      const out = await prior.denoise(new Float32Array(64 * 64).fill(0.1), 0.5, 1);
      expect(out.every(Number.isFinite)).toBe(true);
    } finally {
      await prior.dispose();
    }
  }, 60_000);

  const N = 4, d = 3, m = 2;
  const inputs = () => ({
    particles: Float32Array.from({ length: N * d }, (_, i) => Math.sin(i) * 100),
    measurements: Float32Array.from({ length: N * m }, (_, i) => Math.cos(i)),
    residuals: Float32Array.from({ length: N * m }, (_, i) => Math.sin(3 * i)),
  });

  it('fails a Kalman step whose enormous stepScale overflows the particles, naming out', async () => {
    await expect(kalmanStep({ ...inputs(), ensembleSize: N, stepScale: 1e300, backend: 'cpu' })).rejects.toThrow(
      /^The Kalman step with stepScale = 1e\+300 produced non-finite particles \(a step scale too large for these inputs\) in out: (NaN|-?Infinity) at particle 0 \(element 0 of that particle\)$/);
    const fine = await kalmanStep({ ...inputs(), ensembleSize: N, stepScale: 1, backend: 'cpu' });
    expect(fine.particles.every(Number.isFinite)).toBe(true);
  });

  it('fails the resident ensemble\'s step the same way, naming the ensemble', async () => {
    const { particles, measurements, residuals } = inputs();
    const ensemble = await Ensemble.create({ particles, ensembleSize: N, backend: 'cpu' });
    try {
      await expect(ensemble.kalmanStep({ measurements, residuals, stepScale: 1e300 })).rejects.toThrow(
        /^The Kalman step with stepScale = 1e\+300 produced non-finite particles \(a step scale too large for these inputs\) in the ensemble: /);
    } finally {
      await ensemble.dispose();
    }
  });
});

describe('a configuration that would guide nothing is refused, not run to a 0-evaluation success', () => {
  it('EnKG refuses updates 0', () => {
    expect(() => new EnKG({ updates: 0 })).toThrow(new RangeError(
      'Expected at least 1 Kalman correction per guided step for EnKG updates but received 0'));
  });

  it('EnKG refuses a step count with no guided step (K = 1, or K = 2 with thresholds that leave none)', () => {
    expect(() => new EnKG({ steps: 1 })).toThrow(new RangeError(
      'Expected a grid with at least one guided step i, thresholdStart K < i < K - floor(thresholdEnd K) for EnKG steps '
      + 'but received 1 with thresholdStart 0.05 and thresholdEnd 0.05 (no step is guided)'));
    expect(() => new EnKG({ steps: 2, thresholdStart: 0.5 })).toThrow(/no step is guided/);
    expect(new EnKG({ steps: 2 }).guidedSteps()).toBe(1);
  });

  it('SCG refuses a step count with no guided step', () => {
    expect(() => new SCG({ steps: 1 })).toThrow(new RangeError(
      'Expected a grid with at least one guided step i, floor(threshold K) <= i < K - 1 for SCG steps but received 1 '
      + 'with threshold 0.25 (no step is guided)'));
    expect(() => new SCG({ steps: 2 })).not.toThrow();
  });
});
