// `enkg data navier-stokes`: GRF initial vorticity evolved to t = 5 (the
// prior's training distribution), written as float32 [N, 1, R, R] .npy in
// physical units. `--time 0` writes the raw GRF fields.
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

import { resolveSpectralBackend } from '../backend';
import { NpyWriter } from '../io/npy';
import { gaussianRandomField } from '../problems/grf';
import { NavierStokes2D } from '../problems/navier-stokes';
import { ProgressBar } from './progress';
import { asUsage, backendFlag, integerFlag, numberFlag, requiredFlag, UsageError } from './usage';

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
  const count = requiredFlag(integerFlag(values.count, 'count', 1), 'count', DATA_USAGE);
  const resolution = requiredFlag(integerFlag(values.resolution, 'resolution', 2), 'resolution', DATA_USAGE);
  const seed = requiredFlag(integerFlag(values.seed, 'seed', 0), 'seed', DATA_USAGE);
  const out = requiredFlag(values.out, 'out', DATA_USAGE);
  const time = numberFlag(values.time, 'time', 0) ?? 5;
  const batch = integerFlag(values.batch, 'batch', 1) ?? 64;
  const alpha = numberFlag(values.alpha, 'alpha', 0, true) ?? 2.5;
  const tau = numberFlag(values.tau, 'tau', 0, true) ?? 7;
  const reynolds = numberFlag(values.reynolds, 'reynolds', 0, true) ?? 200;
  const requested = backendFlag(values.backend);
  const solver = asUsage(() => new NavierStokes2D({ resolution, reynolds, time, backend: requested }));
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new UsageError(`--out ${out} is a folder; expected a file name (FILE.npy)`);
  // An unavailable backend fails here, before anything is written.
  const backend = await resolveSpectralBackend(requested);

  // The fields go to OUT.partial and become OUT only when all are written.
  const writer = await NpyWriter.open(out, '<f4', [count, 1, resolution, resolution]);
  const bar = new ProgressBar(count, 'fields');
  bar.update(0);
  let failed = 0;
  try {
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
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.close();
  console.error(`wrote ${out}: float32 [${count}, 1, ${resolution}, ${resolution}]` +
    `${time === 0 ? ' (GRF fields)' : `, t = ${time}`}${failed ? `; ${failed} fields failed (NaN rows)` : ''}`);
  return failed > 0 ? 1 : 0;
}
