// Checkpoints: a run saved every step and resumed from any of its files ends
// with the particles of an uninterrupted run; a file that is truncated,
// altered, from another enkg version or of another problem is refused,
// saying which.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  CHECKPOINT_FILE, DPG, EKI, EnKG, GaussianRandomFieldPrior, InverseProblem, SCG, gaussianRandomField, loadCheckpoint,
  resume, saveCheckpoint,
} from '../lib';
import { LinearForwardModel, randomMatrix } from './helpers/linear';

const R = 8, D = R * R;

async function problem(seed = 3): Promise<InverseProblem> {
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3, scale: 0.4 });
  const forward = new LinearForwardModel([1, R, R], randomMatrix(16, D, seed), 16);
  const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 3, seed: 77, backend: 'cpu' });
  for (let k = 0; k < D; k++) truth[k] /= 0.4;
  return { prior, forward, observation: Float32Array.from(forward.apply(truth)) };
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-checkpoint-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a checkpointed run', () => {
  it.each([
    ['enkg', () => new EnKG({ ensembleSize: 6, steps: 8, updates: 2 })],
    ['eki', () => new EKI({ ensembleSize: 6, iterations: 5 })],
    ['dpg (carries running losses and momentum)', () => new DPG({ ensembleSize: 2, mcSamples: 6, steps: 6 })],
    ['scg (carries the chosen clean estimates)', () => new SCG({ ensembleSize: 2, candidates: 3, steps: 8, threshold: 0.25 })],
  ])('%s: resumed from the file of every step, ends with the uninterrupted particles', async (_name, make) => {
    const p = await problem();
    const reference = await make().solve(p, { seed: 4 });
    // Record the checkpoint file after every step of a run that saves every step.
    const files: Buffer[] = [];
    const cpDir = path.join(dir, 'run');
    const result = await make().solve(p, { seed: 4, checkpoint: { dir: cpDir, every: 1 } });
    expect(result.particles).toEqual(reference.particles);
    const final = await loadCheckpoint(cpDir, p);
    expect(final.state.step).toBe(final.state.steps);
    expect(final.state.particles).toEqual(reference.particles);
    // Replay: save every intermediate state by advancing by hand, then resume from each.
    let state = await make().init(p, { seed: 4 });
    while (state.step < state.steps) {
      const stepDir = path.join(dir, `step-${state.step}`);
      await saveCheckpoint(stepDir, state, p);
      files.push(fs.readFileSync(path.join(stepDir, CHECKPOINT_FILE)));
      const resumed = await resume(stepDir, p);
      expect(resumed.particles).toEqual(reference.particles);
      expect(resumed.cost.forwardEvaluations).toBe(reference.cost.forwardEvaluations);
      state = await make().advance(p, state, { seed: 4 });
    }
    expect(files.length).toBe(state.steps);
  });

  it('saves only every `every` steps, and at the end', async () => {
    const p = await problem();
    const cpDir = path.join(dir, 'sparse');
    const algorithm = new EKI({ ensembleSize: 4, iterations: 5 });
    const steps: number[] = [];
    const original = algorithm.advance.bind(algorithm);
    algorithm.advance = async (...args) => {
      const next = await original(...args);
      if (fs.existsSync(path.join(cpDir, CHECKPOINT_FILE))) steps.push((await loadCheckpoint(cpDir)).state.step);
      return next;
    };
    await algorithm.solve(p, { checkpoint: { dir: cpDir, every: 2 } });
    // Seen before each save of step k: the file then holds the last saved step.
    expect(steps).toEqual([0, 0, 2, 2, 4]);
    expect((await loadCheckpoint(cpDir)).state.step).toBe(5);
  });
});

describe('a checkpoint that cannot be used', () => {
  async function saved(): Promise<{ p: InverseProblem; file: string }> {
    const p = await problem();
    const state = await new EnKG({ ensembleSize: 4, steps: 6 }).init(p, { seed: 1 });
    const file = await saveCheckpoint(path.join(dir, 'cp'), state, p, { note: 'kept' });
    return { p, file };
  }

  it('keeps the caller\'s meta beside the state', async () => {
    const { file } = await saved();
    expect((await loadCheckpoint(file)).meta).toEqual({ note: 'kept' });
  });

  it('is refused when truncated', async () => {
    const { p, file } = await saved();
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    await expect(resume(path.dirname(file), p)).rejects.toThrow(/cannot be used: it is truncated or padded/);
    fs.writeFileSync(file, bytes.subarray(0, 40));
    await expect(loadCheckpoint(file)).rejects.toThrow(/cannot be used: it is truncated \(a \d+-byte header announced/);
  });

  it('is refused when its particles or its header were altered', async () => {
    const { file } = await saved();
    const bytes = fs.readFileSync(file);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3] ^= 1;
    fs.writeFileSync(file, flipped);
    await expect(loadCheckpoint(file)).rejects.toThrow('its arrays were altered (checksum mismatch)');
    const text = Buffer.from(bytes);
    const at = text.indexOf('"step":0');
    text.write('"step":1', at, 'latin1');
    fs.writeFileSync(file, text);
    await expect(loadCheckpoint(file)).rejects.toThrow('its header was altered (checksum mismatch)');
  });

  it('is refused when another enkg version wrote it, naming both versions', async () => {
    const { file } = await saved();
    const bytes = fs.readFileSync(file);
    const length = bytes.readUInt32LE(8);
    const header = JSON.parse(bytes.subarray(12, 12 + length).toString('utf8'));
    header.enkgVersion = '0.0.1';
    header.headerSha256 = '';
    header.headerSha256 = createHash('sha256').update(JSON.stringify(header)).digest('hex');
    const json = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(json.length);
    fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, 8), prefix, json, bytes.subarray(12 + length)]));
    await expect(loadCheckpoint(file)).rejects.toThrow(/written by enkg 0\.0\.1 and this is enkg \d/);
  });

  it('is refused for another problem, and by an algorithm of another configuration', async () => {
    const { file } = await saved();
    const other = await problem(5);
    await expect(resume(path.dirname(file), other)).rejects.toThrow('it is a run of another problem (its observation differs from this one\'s)');
    const { state } = await loadCheckpoint(file);
    await expect(new EnKG({ ensembleSize: 4, steps: 7 }).advance(await problem(), state, { seed: 1 }))
      .rejects.toThrow(/Expected a run state with this enkg configuration/);
  });

  it('is refused when it is not a checkpoint at all', async () => {
    const file = path.join(dir, 'not.enkgrun');
    fs.writeFileSync(file, 'hello, world');
    await expect(loadCheckpoint(file)).rejects.toThrow('it is not an enkg run state');
    await expect(loadCheckpoint(path.join(dir, 'missing'))).rejects.toThrow('it does not exist');
  });
});
