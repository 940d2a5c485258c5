// Benchmark of the Navier-Stokes forward model (npm run bench:navier-stokes).
//
// Fields per second of NavierStokes2D.solve to T = 1 for R in {64, 128} and
// B in {16, 256, 2048} on each available backend, starting from GRF fields
// evolved to t = 5 (the prior's distribution), next to the PyTorch reference
// solver on the same fields and machine (bench/ns_reference.py, which imports
// the reference from ENKG_PYTORCH_DIR). At B = 16 it also checks that the
// two agree (enkg in dtMode 'batch', the reference's rule).
//
// On a GPU it also prints the memory-bandwidth floor of a time step (see
// stepFloorBytes) next to the measured time per step, from the device's peak
// bandwidth as the driver reports it.
//
// Options: --resolutions 64,128  --batches 16,256,2048  --backend all|cpu|cuda
//   --kernels auto (comma-separated NavierStokes2DOptions.kernel values, each
//   timed in turn; the reference runs once per cell)
//   --time 1  --fields 256 (distinct initial fields; larger batches repeat them)
//   --budget 240 (seconds: a cell whose estimate, from the B = 16 rate, is
//   longer is skipped and says so)  --reference-device cpu|cuda  --out FILE
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { backends, BackendName, gaussianRandomField, NavierStokes2D, readNpy, writeNpy } from '../lib';

const DATA_DIR = path.join(__dirname, 'data');
import { RESULTS_DIR, run, runReferenceScript, writeResults } from './common';

async function initialFields(R: number, count: number): Promise<string> {
  const file = path.join(DATA_DIR, `ns-${R}-t5-${count}.npy`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(DATA_DIR, { recursive: true });
  console.error(`generating ${count} fields at ${R}^2 (GRF evolved to t = 5) into ${file} ...`);
  const w0 = await gaussianRandomField({ resolution: R, count, alpha: 2.5, tau: 7, seed: 2024, backend: 'cpu' });
  const fields = await new NavierStokes2D({ resolution: R, time: 5, backend: 'cpu' }).solve(w0, count);
  await writeNpy(file, fields, [count, 1, R, R]);
  return file;
}

/**
 * The bytes one time step of B fields must move through device memory when
 * every element-wise operation is fused into the transforms, so that only the
 * FFTs touch memory, each reading its input and writing its output once:
 * per field 12 real transforms (two evaluations of the nonlinear term, each
 * 3 inverse (w, u, v) and 2 forward (u w, v w), and 2 inverse for the next
 * step's CFL velocity), each moving R (R/2 + 1) complex and R^2 real values.
 */
function stepFloorBytes(R: number, B: number, bytesPerReal = 4): number {
  const complexValues = R * (R / 2 + 1), realValues = R * R;
  return B * 12 * bytesPerReal * (2 * complexValues + realValues);
}

function tile(fields: Float32Array, fieldSize: number, batch: number): Float32Array {
  const out = new Float32Array(batch * fieldSize);
  const available = fields.length / fieldSize;
  for (let b = 0; b < batch; b++) out.set(fields.subarray((b % available) * fieldSize, (b % available + 1) * fieldSize), b * fieldSize);
  return out;
}

interface ReferenceRun { seconds: number; fieldsPerSecond: number; output?: string }

function runReference(input: string, batch: number, time: number, device: string, output?: string): ReferenceRun | string {
  const args = ['--input', input, '--batch', String(batch), '--time', String(time), '--device', device];
  if (output) args.push('--output', output);
  return runReferenceScript<ReferenceRun>('ns_reference.py', args);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    strict: true,
    options: {
      resolutions: { type: 'string', default: '64,128' }, batches: { type: 'string', default: '16,256,2048' },
      backend: { type: 'string', default: 'all' }, time: { type: 'string', default: '1' },
      fields: { type: 'string', default: '256' }, budget: { type: 'string', default: '240' },
      'reference-device': { type: 'string', default: 'cpu' }, out: { type: 'string' },
      kernels: { type: 'string', default: 'auto' },
    },
  });
  const kernels = String(values.kernels).split(',') as Array<'auto' | 'library' | 'fused'>;
  for (const k of kernels) {
    if (!['auto', 'library', 'fused'].includes(k)) throw new Error(`--kernels: expected auto, library or fused, got ${k}`);
  }
  const resolutions = String(values.resolutions).split(',').map(Number);
  const batches = String(values.batches).split(',').map(Number);
  const T = Number(values.time), budget = Number(values.budget), distinct = Number(values.fields);
  const probed = await backends();
  const available = probed.filter((b) => b.available).map((b) => b.name);
  const wanted = (values.backend === 'all' ? available : [values.backend]) as BackendName[];
  for (const b of wanted) {
    if (!available.includes(b)) throw new Error(`backend ${b} is unavailable on this machine (see enkg info)`);
  }
  const rows: Array<Record<string, unknown>> = [];
  console.log(`Navier-Stokes solve to T = ${T} from fields at t = 5; fields/s (higher is better)\n`);
  console.log('backend kernel    R      B   enkg fields/s   reference fields/s   speedup   agreement (rel L2, B = 16)   steps   ms/step   floor ms/step');
  const references = new Map<string, { run: ReferenceRun | string; agreement?: number }>();
  for (const backend of wanted) for (const kernel of kernels) {
    for (const R of resolutions) {
      const file = await initialFields(R, Math.min(distinct, Math.max(...batches)));
      const fields = (await readNpy(file)).data as Float32Array;
      let oursRate16 = 0, refRate16 = 0;
      for (const B of batches) {
        const w0 = tile(fields, R * R, B);
        const model = new NavierStokes2D({ resolution: R, time: T, backend, kernel });
        let ran = '';
        // enkg is timed before and after the reference and the two rates
        // averaged, so a drift of machine speed during the cell cancels.
        let steps = 0, stepSeconds: number[] = [];
        const timeOurs = async (): Promise<number> => {
          const t0 = process.hrtime.bigint();
          const solved = await model.solveDetailed(w0, B);
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          if (solved.failures.length > 0) throw new Error(`${solved.failures.length} of ${B} fields failed: ${solved.failures[0].reason}`);
          steps = solved.steps;
          ran = solved.kernel;
          stepSeconds.push(seconds / solved.steps);
          return B / seconds;
        };
        let ours: number | string;
        let before = 0;
        if (oursRate16 > 0 && B / oursRate16 > budget / 2) {
          ours = `skipped (~${(2 * B / oursRate16).toFixed(0)} s)`;
        } else {
          await model.solve(w0.subarray(0, 2 * R * R), 2, { time: 0.01 }); // warm-up (FFT plans)
          before = await timeOurs();
          ours = before;
        }
        let reference: ReferenceRun | string;
        let agreement: number | undefined;
        const known = references.get(`${backend} ${R} ${B}`);
        if (known) {
          reference = known.run;
          agreement = known.agreement;
          if (B === batches[0] && typeof reference !== 'string') refRate16 = reference.fieldsPerSecond;
        } else if (refRate16 > 0 && B / refRate16 > budget) {
          reference = `skipped (~${(B / refRate16).toFixed(0)} s)`;
        } else {
          const input = path.join(RESULTS_DIR, `ns-input-${R}-${B}.npy`);
          fs.mkdirSync(RESULTS_DIR, { recursive: true });
          await writeNpy(input, w0, [B, 1, R, R]);
          const refOut = B === batches[0] ? path.join(RESULTS_DIR, `ns-reference-${R}-${B}.npy`) : undefined;
          reference = runReference(input, B, T, String(values['reference-device']), refOut);
          fs.rmSync(input);
          if (typeof reference !== 'string') {
            if (B === batches[0]) refRate16 = reference.fieldsPerSecond;
            if (refOut) {
              const theirs = (await readNpy(refOut)).data;
              const mine = await new NavierStokes2D({ resolution: R, time: T, dtMode: 'batch', backend }).solve(w0, B);
              let d = 0, n = 0;
              for (let i = 0; i < mine.length; i++) { d += (mine[i] - theirs[i]) ** 2; n += theirs[i] ** 2; }
              agreement = Math.sqrt(d / n);
            }
          }
          references.set(`${backend} ${R} ${B}`, { run: reference, agreement });
        }
        if (typeof ours === 'number') {
          ours = (before + (await timeOurs())) / 2;
          if (B === batches[0]) oursRate16 = ours;
        }
        const refRate = typeof reference === 'string' ? undefined : reference.fieldsPerSecond;
        const speedup = typeof ours === 'number' && refRate ? ours / refRate : undefined;
        // Per time step: the measured time (mean of the timed solves) and, where
        // the device's peak bandwidth is known, the time the floor's bytes take.
        const msPerStep = stepSeconds.length > 0 ? 1000 * stepSeconds.reduce((a, b) => a + b, 0) / stepSeconds.length : undefined;
        const bandwidth = probed.find((b) => b.name === backend)?.memoryBandwidth;
        const floorMs = bandwidth ? 1000 * stepFloorBytes(R, B) / bandwidth : undefined;
        stepSeconds = [];
        console.log(`${backend.padEnd(7)} ${(ran || kernel).padEnd(7)} ${String(R).padStart(4)} ${String(B).padStart(6)}   ` +
          `${(typeof ours === 'number' ? ours.toFixed(2) : ours).padStart(13)}   ` +
          `${(refRate !== undefined ? refRate.toFixed(2) : String(reference)).padStart(18)}   ` +
          `${(speedup !== undefined ? `${speedup.toFixed(2)}x` : '-').padStart(7)}   ` +
          `${(agreement !== undefined ? agreement.toExponential(2) : '-').padEnd(30)}` +
          `${String(steps || '-').padStart(5)}   ${(msPerStep !== undefined ? msPerStep.toFixed(3) : '-').padStart(7)}   ` +
          `${floorMs !== undefined ? `${floorMs.toFixed(3)} (${(msPerStep! / floorMs).toFixed(2)}x floor)` : '-'}`);
        rows.push({
          backend, kernel: ran || kernel, resolution: R, batch: B, time: T, enkgFieldsPerSecond: ours, reference, speedup, agreement,
          steps, msPerStep, floorBytesPerStep: stepFloorBytes(R, B), memoryBandwidth: bandwidth, floorMsPerStep: floorMs,
        });
      }
    }
  }
  writeResults(`navier-stokes-${wanted.join('-')}`, values.out, { rows });
}

run(main);
