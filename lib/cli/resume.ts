// `enkg resume DIR`: continues a run that `enkg solve ... --checkpoint DIR`
// saved (stopped by Ctrl-C, killed, or a machine that went away). The
// checkpoint keeps the solve's command line; the problem is set up again
// from it, the saved state is checked against that problem, and the run
// goes on from its step to the same result it would have had.
import { parseArgs } from 'node:util';

import { CheckpointError, loadCheckpoint } from '../algorithms/checkpoint';
import { solve } from './solve';
import { CommandRun, quietRun } from './stop';
import { UsageError } from './usage';

export const RESUME_USAGE = `Usage: enkg resume DIR [--quiet] [--json]

Continues the run saved in DIR by 'enkg solve ... --checkpoint DIR', with the
same problem, algorithm and outputs as the command that started it. The
result is the one the run would have had without the interruption.

Options:
  --quiet   no progress bar
  --json    print only the result JSON on stdout`;

export async function resume(argv: string[], run: CommandRun = quietRun()): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: { quiet: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    console.log(RESUME_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`enkg resume takes one checkpoint folder; got ${positionals.length}\n\n${RESUME_USAGE}`);
  const dir = positionals[0];
  const loaded = await loadCheckpoint(dir).catch((error: unknown) => {
    throw error instanceof CheckpointError ? new UsageError(error.message) : error;
  });
  const meta = loaded.meta as { command?: unknown; argv?: unknown } | undefined;
  if (meta?.command !== 'solve' || !Array.isArray(meta.argv) || !meta.argv.every((a) => typeof a === 'string')) {
    throw new UsageError(`The checkpoint in ${dir} was not saved by enkg solve --checkpoint (it keeps no command line); resume it from code with resume(dir, problem)`);
  }
  const argv2 = (meta.argv as string[]).filter((a) => a !== '--quiet' && a !== '--json');
  if (values.quiet) argv2.push('--quiet');
  if (values.json) argv2.push('--json');
  if (!values.json) console.error(`enkg resume: continuing at step ${loaded.state.step} of ${loaded.state.steps}: enkg solve ${argv2.join(' ')}`);
  return solve(argv2, run, { dir });
}
