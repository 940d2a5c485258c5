// `enkg sample`: unconditional samples of an ONNX prior, as .npy and a PNG grid.
import { parseArgs } from 'node:util';

import { writeNpy } from '../io/npy';
import { ColorMap, fieldGridPng } from '../io/png';
import { RunOutput } from '../io/run-output';
import { fieldSize } from '../prior/denoiser';
import { parseExecutionProviders } from '../prior/onnx-denoiser';
import { sampleODE } from '../prior/edm';
import { checkPriorFile, loadPrior, stoppablePrior } from './prior';
import { ProgressBar } from './progress';
import { checkStopped, CommandRun, quietRun } from './stop';
import { asUsage, checkFits, integerFlag, requiredFlag, UsageError, usageOf } from './usage';

export const SAMPLE_USAGE = `Usage: enkg sample --prior FILE.onnx --out DIR [options]

Draws unconditional samples of a diffusion prior with the EDM probability-flow
sampler and writes DIR/samples.npy (float32 [N, C, H, W], the prior's
normalized units) and DIR/samples.png (the first channel, in a grid).

Options:
  --count N        samples (default 16)
  --steps K        sampler steps (default 40)
  --seed S         default 0; sample n starts from Philox stream n
  --solver NAME    euler (default, docs/method.md) or heun
  --colormap NAME  auto (default: diverging for signed fields such as
                   vorticity, gray for images), diverging, gray or viridis
  --provider LIST  ONNX Runtime execution providers tried in order, from cuda,
                   webgpu and cpu (default auto: cuda when available, else cpu)
  --force          replace an existing, non-empty DIR (default: refuse)

DIR appears whole when the samples are done (they are written beside it in a
hidden folder first); a failure or a stop leaves DIR as it was.`;

const COLORMAP_CHOICES = ['auto', 'diverging', 'gray', 'viridis'];

/** 'auto' reads the model card: images get gray, signed physical fields a diverging map. */
function chooseColormap(requested: string, metadata: Record<string, string>): ColorMap {
  if (requested !== 'auto') return requested as ColorMap;
  const text = `${metadata.dataset ?? ''} ${metadata.normalization ?? ''}`.toLowerCase();
  return /mnist|image|pixel|\[-1, ?1\]/.test(text) ? 'gray' : 'diverging';
}

export async function sample(argv: string[], run: CommandRun = quietRun()): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      prior: { type: 'string' }, out: { type: 'string' }, count: { type: 'string', default: '16' },
      steps: { type: 'string', default: '40' }, seed: { type: 'string', default: '0' },
      solver: { type: 'string', default: 'euler' }, colormap: { type: 'string', default: 'auto' },
      provider: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(SAMPLE_USAGE);
    return 0;
  }
  const priorFile = requiredFlag(values.prior, 'prior', SAMPLE_USAGE), out = requiredFlag(values.out, 'out', SAMPLE_USAGE);
  const count = integerFlag(values.count, 'count', 1)!, steps = integerFlag(values.steps, 'steps', 1)!;
  const seed = integerFlag(values.seed, 'seed', 0)!;
  if (values.solver !== 'euler' && values.solver !== 'heun') throw new UsageError(`--solver must be euler or heun, got '${values.solver}'`);
  const requestedColormap = String(values.colormap);
  if (!COLORMAP_CHOICES.includes(requestedColormap)) {
    throw new UsageError(`--colormap must be ${COLORMAP_CHOICES.join(', ')}, got '${requestedColormap}'`);
  }
  const providers = asUsage(() => parseExecutionProviders(values.provider ?? 'auto', 'cuda', '--provider'));
  // Inputs and the output path are checked before the model loads.
  await checkPriorFile(priorFile, '--prior');
  const output = await usageOf(RunOutput.create(out, { force: values.force === true }));
  run.kept = `nothing was written (${output.path} is as it was)`;
  try {
    const onnx = await loadPrior(priorFile, '--prior', providers, run);
    const prior = stoppablePrior(onnx, run);
    try {
      const [C, H, W] = prior.shape;
      checkFits(`--count ${count}`, count * fieldSize(prior.shape), 4 * 2, `${count} samples of [${C}, ${H}, ${W}] (and one denoised copy)`);
      const colormap = chooseColormap(requestedColormap, onnx.metadata);
      const evaluations = values.solver === 'heun' ? 2 * steps - 1 : steps;
      const bar = new ProgressBar(count * evaluations, 'evaluations');
      const timer = setInterval(() => bar.update(Math.min(prior.evaluations, count * evaluations)), 500);
      const started = Date.now();
      const samples = await sampleODE(prior, { count, steps, seed, solver: values.solver }).finally(() => clearInterval(timer));
      checkStopped(run, 'Sampling');
      bar.update(count * evaluations);
      await writeNpy(output.file('samples.npy'), samples, [count, C, H, W]);
      const firstChannel = new Float32Array(count * H * W);
      for (let n = 0; n < count; n++) firstChannel.set(samples.subarray(n * C * H * W, n * C * H * W + H * W), n * H * W);
      await output.writeFile('samples.png', fieldGridPng({ fields: firstChannel, count, height: H, width: W, colormap }));
      checkStopped(run, 'Sampling');
      await output.commit();
      run.kept = `kept ${output.path} (complete)`;
      console.error(`wrote ${output.path}/samples.npy and samples.png (${count} samples, ${steps} ${values.solver} steps, ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s on ${onnx.executionProvider})`);
      return 0;
    } finally {
      await prior.drain();
      await onnx.dispose();
    }
  } finally {
    await output.abort();
  }
}
