#!/usr/bin/env node
// The `enkg` command line. Each command lives in its own file in lib/cli/.
import { parseArgs } from 'node:util';

import { version } from '../version';
import { data } from './data';
import { info } from './info';
import { sample } from './sample';
import { resume } from './resume';
import { solve } from './solve';
import { worker } from './worker';
import { CommandRun, quietRun, stopOnSignals } from './stop';
import { isUsageError } from './usage';

const USAGE = `Usage: enkg <command> [options]

Commands:
  info [--json]     version, build, available backends and why one is not
  data navier-stokes --count N --resolution R --seed S --out FILE.npy [--force]
                    training / test fields for the Navier-Stokes prior
  sample --prior FILE.onnx --out DIR [--count 16 --steps 40 --force]
                    unconditional samples of a prior (.npy and a PNG grid)
  solve PROBLEM [--algo enkg --ensemble N --steps K --noise S --out DIR]
                    an inverse problem (navier-stokes, ...): EnKG or a baseline
                    on a held-out truth (enkg solve --help lists the problems)
  resume DIR        continue a run saved by enkg solve --checkpoint DIR
  worker --redis URL --queue NAME --model MODEL [--concurrency N]
                    evaluate the forward models of enkg solve --queue runs
  help              this text

Options:
  --version         print the version
  --force           (data, sample, solve) replace an existing output; without
                    it an existing file or non-empty folder is refused
Outputs appear whole or not at all. SIGINT / SIGTERM stop a command at its next
safe point: temporary files are removed, one line says what was kept, and the
exit code is 130 / 143.
Environment:
  ENKG_BACKEND=cpu  force the CPU backend; ENKG_CUDA_LIB_DIR: where libcublas and libcufft live (dirs, colon-separated)
  ENKG_FFTW_WISDOM  folder for the CPU solver's FFTW plans (default ~/.cache/enkg; off: unmeasured plans)`;

/**
 * Runs one command. `run` carries the AbortSignal that stops it (the
 * process's SIGINT and SIGTERM when run as `enkg`) and what it has kept.
 */
export async function main(argv: string[], run: CommandRun = quietRun()): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    console.error(USAGE);
    return 2;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    console.log(version);
    return 0;
  }
  if (command === 'info') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } }, strict: true });
    console.log(await info(values.json === true));
    return 0;
  }
  if (command === 'data') return data(rest, run);
  if (command === 'sample') return sample(rest, run);
  if (command === 'solve') return solve(rest, run);
  if (command === 'resume') return resume(rest, run);
  if (command === 'worker') return worker(rest, run);
  console.error(`enkg: unknown command '${command}'\n\n${USAGE}`);
  return 2;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const { run, stoppedBy, finish } = stopOnSignals(argv[0] ?? '');
  main(argv, run).then(
    (code) => {
      if (stoppedBy() !== undefined) return finish();
      process.exitCode = code;
    },
    (error: unknown) => {
      if (stoppedBy() !== undefined) return finish();
      console.error(`enkg: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = isUsageError(error) ? 2 : 1;
    },
  );
}
