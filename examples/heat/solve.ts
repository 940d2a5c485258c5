// Recovering an initial temperature field from a few sensor readings taken
// after it has diffused, with EnKG and a Gaussian-random-field prior. The
// forward model is simulator.c, an ordinary C program that enkg runs through
// ForwardModel.fromCommand's .npy protocol: any program in any language that
// reads {input} and writes {output} can take its place.
//
// Run from the repository root (needs a C compiler, `cc`):
//   npx ts-node --transpile-only examples/heat/solve.ts
// Options: --resolution R (16), --ensemble N (128), --steps K (40),
//          --seed S (1), --concurrency P (one per core), --heat-steps S (5).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// In your own project: from 'enkg'.
import { EnKG, ForwardModel, GaussianRandomFieldPrior, gaussianRandomField, relativeL2, relativeL2Mean } from '../../lib';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} takes a positive integer; got '${process.argv[at + 1]}'`);
  return value;
}

async function main(): Promise<void> {
  const R = option('resolution', 16), N = option('ensemble', 128), K = option('steps', 40), seed = option('seed', 1);
  const concurrency = option('concurrency', os.availableParallelism());
  const heatSteps = option('heat-steps', 5), stride = 2; // passed to the simulator on its command line
  const m = (R / stride) ** 2;

  // Build the simulator into a scratch folder, removed at the end.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-heat-'));
  try {
    const simulator = path.join(scratch, 'heat-sim');
    execFileSync('cc', ['-O2', '-std=c99', '-o', simulator, path.join(__dirname, 'simulator.c')], { stdio: 'inherit' });

    // One run of the simulator per chunk of particles, one chunk per core.
    const forward = ForwardModel.fromCommand([simulator, '{input}', '{output}', String(heatSteps), String(stride)], {
      fieldShape: [1, R, R], measurementSize: m, concurrency, chunkSize: Math.ceil(N / concurrency), timeoutMs: 60000,
    });
    // The prior the truth is drawn from: a stationary Gaussian random field.
    const alpha = 3, tau = 3;
    const prior = new GaussianRandomFieldPrior({ resolution: R, alpha, tau });
    const truth = await gaussianRandomField({ resolution: R, count: 1, alpha, tau, seed: 1000 + seed });
    const observation = await forward.forward(truth, 1);

    // Small steps (g = 0.1) guided over the second half of the noise levels,
    // as in the linear-Gaussian tests of EnKG.
    const enkg = new EnKG({ ensembleSize: N, steps: K, guidanceScale: 1, updates: 2, thresholdStart: 0.5 });
    const result = await enkg.solve({ prior, forward, observation }, { seed });

    console.log(`heat equation, ${R}x${R} field, ${m} sensors after ${heatSteps} diffusion steps; EnKG with N = ${N}, K = ${K}`);
    console.log(`simulator runs: ${result.cost.forwardSequential} calls, ${result.cost.forwardEvaluations} field evaluations, `
      + `${result.failures.length} failed`);
    console.log(`relative L2 error of the posterior mean: ${relativeL2Mean(result.particles, N, truth).toFixed(3)}`);
    console.log(`relative L2 error per particle (mean):   ${relativeL2(result.particles, N, truth).toFixed(3)}`);
    console.log('relative L2 error of the prior mean (0):  1.000');
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
