// Only on the CPU emulator of the CUDA backend (native/cuda-emu): the CUDA
// kernels give the same bits whatever order the emulated threads and blocks
// run in. A kernel that reads what another thread of its block writes
// without a barrier in between (a race on a GPU) changes its result with the
// order; the emulator's self-test (test/cuda-emulator.test.ts) shows such a
// kernel caught.
import { gaussianRandomField, kalmanStep, NavierStokes2D, randomNormal } from '../../lib';
import { cudaIsEmulated } from '../helpers/backends';
import { testRandom } from '../helpers/reference';

const emulated = cudaIsEmulated();
if (!emulated) console.warn('Skipping the emulator order checks: the CUDA backend here is not the CPU emulator');
const describeEmulated = emulated ? describe : describe.skip;

const orders = ['forward', 'reverse', 'shuffle'] as const;

async function inEachOrder(run: () => Promise<Float32Array>): Promise<Buffer[]> {
  const results: Buffer[] = [];
  const before = process.env.ENKG_CUDA_EMU_ORDER;
  try {
    for (const order of orders) {
      process.env.ENKG_CUDA_EMU_ORDER = order;
      const out = await run();
      results.push(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    }
  } finally {
    if (before === undefined) delete process.env.ENKG_CUDA_EMU_ORDER;
    else process.env.ENKG_CUDA_EMU_ORDER = before;
  }
  return results;
}

function expectAllEqual(results: Buffer[]) {
  for (let k = 1; k < results.length; k++) {
    expect({ order: orders[k], same: results[k].equals(results[0]) }).toEqual({ order: orders[k], same: true });
  }
}

describeEmulated('the CUDA kernels in every thread order (emulator)', () => {
  let fields: Float32Array;
  beforeAll(async () => {
    fields = (await gaussianRandomField({ resolution: 32, count: 3, alpha: 2.5, tau: 7, seed: 4, backend: 'cpu' }))
      .map((v) => v * 20);
  });

  it.each([
    ['fused', 32, 'float32'], ['fused', 64, 'float64'], ['library', 32, 'float32'],
  ] as const)('Navier-Stokes, kernel %s at %i^2 in %s', async (kernel, R, precision) => {
    const w0 = R === 32 ? fields : (await gaussianRandomField({ resolution: R, count: 2, alpha: 2.5, tau: 7, seed: 4, backend: 'cpu' })).map((v) => v * 20);
    const batch = w0.length / (R * R);
    const ns = new NavierStokes2D({ resolution: R, time: 0.1, backend: 'cuda', kernel, precision });
    const results = await inEachOrder(async () => {
      const r = await ns.solveDetailed(w0, batch);
      expect(r.kernel).toBe(kernel);
      return r.fields;
    });
    expectAllEqual(results);
  });

  it('the fused kernel at 128^2', async () => {
    const w0 = (await gaussianRandomField({ resolution: 128, count: 1, alpha: 2.5, tau: 7, seed: 5, backend: 'cpu' })).map((v) => v * 20);
    const ns = new NavierStokes2D({ resolution: 128, time: 0.01, backend: 'cuda', kernel: 'fused' });
    expectAllEqual(await inEachOrder(async () => (await ns.solveDetailed(w0, 1)).fields));
  });

  it('the Kalman step, Philox normals and GRFs', async () => {
    const g = testRandom(8);
    const N = 40, d = 300, m = 50;
    const args = { particles: g.normals(N * d), measurements: g.normals(N * m), residuals: g.normals(N * m), ensembleSize: N, stepScale: 1.5 };
    expectAllEqual(await inEachOrder(async () => (await kalmanStep({ ...args, backend: 'cuda' })).particles));
    expectAllEqual(await inEachOrder(() => randomNormal({ count: 1000, seed: 3, streams: 3, backend: 'cuda' })));
    expectAllEqual(await inEachOrder(() => gaussianRandomField({ resolution: 32, count: 3, alpha: 2.5, tau: 7, seed: 2, backend: 'cuda' })));
  });
});
