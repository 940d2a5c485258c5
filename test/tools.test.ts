// tools/prior: train.py --smoke and export.py produce a file OnnxDenoiser
// loads and that matches PyTorch (export.py checks that itself). Skipped,
// with the reason, where Debian's python3-torch is not installed.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { OnnxDenoiser } from '../lib';

const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (!hasTorch) console.warn('Skipping tools/prior tests: /usr/bin/python3 cannot import torch (apt-get install python3-torch)');

(hasTorch ? describe : describe.skip)('tools/prior', () => {
  it('train.py --smoke --gaussian-skip, then export.py, gives a prior that follows the contract', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-tools-'));
    const tools = path.resolve(__dirname, '..', 'tools', 'prior');
    // The shipped priors' configuration: the Gaussian skip (its DFT products must export) and restricted shifts.
    const trained = execFileSync(python, [path.join(tools, 'train.py'), '--smoke', '--gaussian-skip', '--roll-step-w', '4', '--out', dir],
      { encoding: 'utf8', stdio: 'pipe' });
    expect(trained).toMatch(/Gaussian skip: per-mode variance from 64 fields/);
    const log = fs.readFileSync(path.join(dir, 'loss.csv'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(11); // header + 10 steps
    const out = execFileSync(python, [path.join(tools, 'export.py'), '--run', dir, '--out', path.join(dir, 'p.onnx'),
      '--normalization', 'identity'], { encoding: 'utf8', stdio: 'pipe' });
    expect(out).toMatch(/onnxruntime vs PyTorch on 4 random inputs: max \|diff\|/);
    const prior = await OnnxDenoiser.load(path.join(dir, 'p.onnx'), { executionProviders: ['cpu'] });
    try {
      expect(prior.shape).toEqual([1, 16, 16]);
      expect(prior.metadata).toMatchObject({ sigma_data: '0.5', resolution: '16', training_steps: '10' });
      const d = await prior.denoise(new Float32Array(3 * 256).fill(0.2), 1, 3);
      expect(Array.from(d).every(Number.isFinite)).toBe(true);
    } finally {
      await prior.dispose();
    }
    // A fine-tune's run counts only its own steps: --training-steps records the total.
    execFileSync(python, [path.join(tools, 'export.py'), '--run', dir, '--out', path.join(dir, 'q.onnx'), '--training-steps', '25', '--no-check'],
      { encoding: 'utf8', stdio: 'pipe' });
    const tuned = await OnnxDenoiser.load(path.join(dir, 'q.onnx'), { executionProviders: ['cpu'] });
    try {
      expect(tuned.metadata).toMatchObject({ training_steps: '25' });
    } finally {
      await tuned.dispose();
    }
    const refused = spawnSync(python, [path.join(tools, 'export.py'), '--run', dir, '--out', path.join(dir, 'r.onnx'), '--training-steps', '0', '--no-check'],
      { encoding: 'utf8' });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/--training-steps must be a positive integer, got 0/);
    expect(fs.existsSync(path.join(dir, 'r.onnx'))).toBe(false); // refused before any work
  }, 120000);
});
