// The same input gives the same bits in every process, not only within one.
// FFTW_MEASURE chooses its algorithm by timing, so two processes could round
// differently; the planner keeps its choice as wisdom in ENKG_FFTW_WISDOM
// (or plans by FFTW_ESTIMATE where no file can be kept). Each case runs the
// forward model in fresh child processes and compares hashes.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const runner = `
const { createHash } = require('node:crypto');
const { gaussianRandomField, NavierStokes2D } = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib'))});
(async () => {
  const out = {};
  for (const [resolution, precision] of [[64, 'float32'], [32, 'float64']]) {
    const w = await gaussianRandomField({ resolution, count: 4, alpha: 2.5, tau: 7, seed: 3, backend: 'cpu' });
    const model = new NavierStokes2D({ resolution, precision, backend: 'cpu' });
    const y = await model.forward(w.map((v) => v / 10), 4);
    out[resolution + precision] = createHash('sha256').update(Buffer.from(y.buffer)).digest('hex');
  }
  process.stdout.write(JSON.stringify(out));
})();`;

function run(wisdom: string): Record<string, string> {
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', runner], {
    encoding: 'utf8', env: { ...process.env, ENKG_FFTW_WISDOM: wisdom },
  });
  return JSON.parse(out);
}

describe('reproducible across processes (CPU backend)', () => {
  let folder: string;
  beforeAll(() => { folder = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-wisdom-')); });
  afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('stores measured plans as FFTW wisdom and gives the same bits in the next processes', () => {
    const first = run(folder);
    for (const tag of ['f32', 'f64']) {
      expect(fs.readFileSync(path.join(folder, `fftw-wisdom-${tag}.txt`), 'utf8')).toMatch(/^\(fftw-3\.[0-9.]+ fftwf?_wisdom/);
    }
    expect(run(folder)).toEqual(first);
    expect(run(folder)).toEqual(first);
  });

  it('overwrites a wisdom file FFTW cannot read, and still solves', () => {
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-wisdom-broken-'));
    try {
      fs.writeFileSync(path.join(broken, 'fftw-wisdom-f32.txt'), 'not wisdom');
      const a = run(broken);
      expect(fs.readFileSync(path.join(broken, 'fftw-wisdom-f32.txt'), 'utf8')).toMatch(/^\(fftw-3/);
      expect(run(broken)).toEqual(a);
    } finally {
      fs.rmSync(broken, { recursive: true, force: true });
    }
  });

  it("plans without timing (FFTW_ESTIMATE) under ENKG_FFTW_WISDOM=off, the same in every process", () => {
    const a = run('off');
    expect(run('off')).toEqual(a);
  });
});
