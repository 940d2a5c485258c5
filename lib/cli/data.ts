// `enkg data navier-stokes`: GRF initial vorticity evolved to t = 5 (the
// prior's training distribution), written as float32 [N, 1, R, R] .npy in
// physical units. `--time 0` writes the raw GRF fields.
import { parseArgs } from 'node:util';

import { NpyWriter } from '../io/npy';
import { gaussianRandomField } from '../problems/grf';
import { NavierStokes2D } from '../problems/navier-stokes';
import { BackendOption } from '../backend';
import { ProgressBar } from './progress';

export const DATA_USAGE = `Usage: enkg data navier-stokes --count N --resolution R --seed S --out FILE.npy [options]

Draws Gaussian-random-field initial vorticity (alpha = 2.5, tau = 7) and evolves
it with the Navier-Stokes solver (Re = 200, Kolmogorov forcing) to --time.

Options:
  --count N         number of fields (required)
  --resolution R    grid size, even (required)
  --seed S          random seed; field n is Philox stream n (required)
  --out FILE.npy    output, float32 [N, 1, R, R], physical units (required)
  --time T          final time (default 5; 0 writes the GRF fields)
  --reynolds RE     default 200
  --alpha A --tau T GRF parameters (default 2.5 and 7)
  --batch B         fields per solver call (default 64)
  --backend NAME    cpu | cuda | auto (default auto)`;

function numberFlag(value: string | undefined, name: string, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new Error(`--${name} is required\n\n${DATA_USAGE}`);
    return fallback;
  }
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${value}'`);
  return n;
}

export async function data(argv: string[]): Promise<number> {
  const [problem, ...rest] = argv;
  if (problem !== 'navier-stokes') {
    console.error(problem === undefined ? DATA_USAGE : `enkg data: unknown problem '${problem}' (known: navier-stokes)\n\n${DATA_USAGE}`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      count: { type: 'string' }, resolution: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' },
      time: { type: 'string' }, reynolds: { type: 'string' }, alpha: { type: 'string' }, tau: { type: 'string' },
      batch: { type: 'string' }, backend: { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(DATA_USAGE);
    return 0;
  }
  const count = numberFlag(values.count, 'count');
  const resolution = numberFlag(values.resolution, 'resolution');
  const seed = numberFlag(values.seed, 'seed');
  if (values.out === undefined) throw new Error(`--out is required\n\n${DATA_USAGE}`);
  const time = numberFlag(values.time, 'time', 5);
  const batch = numberFlag(values.batch, 'batch', 64);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer, got ${values.count}`);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch must be a positive integer, got ${values.batch}`);
  const backend = (values.backend ?? 'auto') as BackendOption;
  const solver = new NavierStokes2D({
    resolution, reynolds: numberFlag(values.reynolds, 'reynolds', 200), time, backend,
  });
  const alpha = numberFlag(values.alpha, 'alpha', 2.5);
  const tau = numberFlag(values.tau, 'tau', 7);

  const writer = await NpyWriter.open(values.out, '<f4', [count, 1, resolution, resolution]);
  const bar = new ProgressBar(count, 'fields');
  bar.update(0);
  let failed = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const w0 = await gaussianRandomField({ resolution, count: n, alpha, tau, seed, stream: start, backend });
    if (time === 0) {
      await writer.append(w0);
    } else {
      const { fields, failures } = await solver.solveDetailed(w0, n);
      failed += failures.length;
      for (const f of failures) console.error(`\nfield ${start + f.index}: ${f.reason}`);
      await writer.append(fields);
    }
    bar.update(start + n);
  }
  await writer.close();
  console.error(`wrote ${values.out}: float32 [${count}, 1, ${resolution}, ${resolution}]` +
    `${time === 0 ? ' (GRF fields)' : `, t = ${time}`}${failed ? `; ${failed} fields failed (NaN rows)` : ''}`);
  return failed > 0 ? 1 : 0;
}
