// `enkg data navier-stokes`: GRF initial vorticity evolved to t = 5 (the
// prior's training distribution), written as float32 [N, 1, R, R] .npy in
// physical units. `--time 0` writes the raw GRF fields.
import { parseArgs } from 'node:util';

import { resolveSpectralBackend } from '../backend';
import { npyHeader, NpyWriter } from '../io/npy';
import { checkOutputFile } from '../io/run-output';
import { gaussianRandomField } from '../problems/grf';
import { NavierStokes2D } from '../problems/navier-stokes';
import { ProgressBar } from './progress';
import { checkStopped, CommandRun, quietRun } from './stop';
import { asUsage, backendFlag, checkFits, integerFlag, numberFlag, requiredFlag, usageOf, UsageError } from './usage';

export const DATA_USAGE = `Usage: enkg data navier-stokes --count N --resolution R --seed S --out FILE.npy [options]

Draws Gaussian-random-field initial vorticity (alpha = 2.5, tau = 7) and evolves
it with the Navier-Stokes solver (Re = 200, Kolmogorov forcing) to --time.

Options:
  --count N         number of fields (required)
  --resolution R    grid size, even (required)
  --seed S          random seed; field n is Philox stream n (required)
  --out FILE.npy    output, float32 [N, 1, R, R], physical units (required);
                    written whole or not at all
  --force           replace an existing FILE.npy (default: refuse)
  --time T          final time (default 5; 0 writes the GRF fields)
  --reynolds RE     default 200
  --alpha A --tau T GRF parameters (default 2.5 and 7)
  --batch B         fields per solver call (default 64)
  --backend NAME    cpu | cuda | auto (default auto)`;

// Arrays of batch x R^2 floats the generator holds at once (the GRF fields,
// the solver's input and output): the floor of what one batch needs.
const ARRAYS_PER_BATCH = 3;

export async function data(argv: string[], run: CommandRun = quietRun()): Promise<number> {
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
      batch: { type: 'string' }, backend: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean' },
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
  // Sizes that cannot fit are refused before the solver is made.
  const perBatch = Math.min(batch, count);
  checkFits(`--resolution ${resolution}`, resolution * resolution, 4 * ARRAYS_PER_BATCH, `one ${resolution}x${resolution} field`);
  checkFits(`--batch ${batch}`, perBatch * resolution * resolution, 4 * ARRAYS_PER_BATCH, `${perBatch} fields of ${resolution}x${resolution} per batch`);
  const shape = [count, 1, resolution, resolution];
  const bytes = npyHeader('<f4', shape).length + count * resolution * resolution * 4;
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`--count ${count} x --resolution ${resolution}^2 is too many values for one .npy file`);
  // The output path is checked (a file name in a writable folder, not an
  // existing file unless --force, room on its disk) before any work.
  await usageOf(checkOutputFile(out, { force: values.force === true, bytes, sizedBy: `--count ${count} x --resolution ${resolution}` }));
  const solver = asUsage(() => new NavierStokes2D({ resolution, reynolds, time, backend: requested }),
    { resolution: '--resolution', reynolds: '--reynolds', time: '--time' });
  // An unavailable backend fails here, before anything is written.
  const backend = await resolveSpectralBackend(requested);

  // The fields go to a hidden file beside OUT, which becomes OUT only when
  // all are written; a failure or a stop removes it and leaves OUT as it was.
  const writer = await usageOf(NpyWriter.open(out, '<f4', shape));
  run.kept = `nothing was written (the partial file was removed${values.force ? `; ${out} is as it was` : ''})`;
  const bar = new ProgressBar(count, 'fields');
  bar.update(0);
  let failed = 0;
  try {
    for (let start = 0; start < count; start += batch) {
      checkStopped(run, 'enkg data');
      const n = Math.min(batch, count - start);
      const w0 = await gaussianRandomField({ resolution, count: n, alpha, tau, seed, stream: start, backend });
      if (time === 0) {
        await writer.append(w0);
      } else {
        checkStopped(run, 'enkg data');
        const { fields, failures } = await solver.solveDetailed(w0, n, { signal: run.signal });
        failed += failures.length;
        for (const f of failures) console.error(`\nfield ${start + f.index}: ${f.reason}`);
        await writer.append(fields);
      }
      bar.update(start + n);
    }
    checkStopped(run, 'enkg data');
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.close();
  run.kept = `kept ${out} (complete)`;
  console.error(`wrote ${out}: float32 [${count}, 1, ${resolution}, ${resolution}]` +
    `${time === 0 ? ' (GRF fields)' : `, t = ${time}`}${failed ? `; ${failed} fields failed (NaN rows)` : ''}`);
  return failed > 0 ? 1 : 0;
}
