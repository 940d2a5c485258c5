#!/usr/bin/env node
// The `enkg` command line. Each command lives in its own file in lib/cli/.
import { parseArgs } from 'node:util';

import { version } from '../version';
import { data } from './data';
import { info } from './info';
import { sample } from './sample';
import { solve } from './solve';
import { isUsageError } from './usage';

const USAGE = `Usage: enkg <command> [options]

Commands:
  info [--json]     version, build, available backends and why one is not
  data navier-stokes --count N --resolution R --seed S --out FILE.npy
                    training / test fields for the Navier-Stokes prior
  sample --prior FILE.onnx --out DIR [--count 16 --steps 40]
                    unconditional samples of a prior (.npy and a PNG grid)
  solve PROBLEM [--algo enkg --ensemble N --steps K --noise S --out DIR]
                    an inverse problem (navier-stokes, ...): EnKG or a baseline
                    on a held-out truth (enkg solve --help lists the problems)
  help              this text

Options:
  --version         print the version
Environment:
  ENKG_BACKEND=cpu  force the CPU backend; ENKG_CUDA_LIB_DIR: where libcublas and libcufft live (dirs, colon-separated)
  ENKG_FFTW_WISDOM  folder for the CPU solver's FFTW plans (default ~/.cache/enkg; off: unmeasured plans)`;

export async function main(argv: string[]): Promise<number> {
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
  if (command === 'data') return data(rest);
  if (command === 'sample') return sample(rest);
  if (command === 'solve') return solve(rest);
  console.error(`enkg: unknown command '${command}'\n\n${USAGE}`);
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(`enkg: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = isUsageError(error) ? 2 : 1;
    },
  );
}
