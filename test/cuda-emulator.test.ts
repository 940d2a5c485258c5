// The CUDA emulator (native/cuda-emu) against kernels whose right and wrong
// answers are known (native/cuda-emu/selftest.cu), each case in its own
// process. Skipped, saying how to build it, where the emulator is not built.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const binary = path.resolve(__dirname, '..', 'build-emu', 'Release', 'enkg-cuda-emu-selftest');
const built = fs.existsSync(binary);
if (!built) console.warn(`Skipping the CUDA emulator self-test: ${binary} is not built (npm run build:cuda-emu)`);
const describeBuilt = built ? describe : describe.skip;

function run(which: string, order = 'forward'): string {
  const out = execFileSync(binary, [which], {
    encoding: 'utf8', env: { ...process.env, ENKG_CUDA_EMU_ORDER: order, ASAN_OPTIONS: 'detect_leaks=0' },
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
  expect(out.startsWith(`${which} `)).toBe(true);
  return out.slice(which.length + 1);
}

// Whether the self-test was built with AddressSanitizer (ENKG_CUDA_EMULATOR=asan).
const sanitized = built && execFileSync(binary, ['sanitized'], { encoding: 'utf8' }).trim() === 'sanitized yes';
if (built && !sanitized) console.warn('Skipping the out-of-bounds check: this emulator build has no AddressSanitizer (ENKG_CUDA_EMULATOR=asan)');

describeBuilt('the CUDA emulator', () => {
  (sanitized ? it : it.skip)('reports a kernel writing past the end of a device array (AddressSanitizer build)', () => {
    let stderr = '';
    try {
      execFileSync(binary, ['past-the-end'], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      stderr = String((e as { stderr?: string }).stderr);
    }
    expect(stderr).toMatch(/heap-buffer-overflow/);
    expect(stderr).toMatch(/pastTheEnd/);
  });

  it.each(['forward', 'reverse', 'shuffle'])('runs a shared-memory and warp-shuffle reduction right (%s order)', (order) => {
    expect(run('block-sum', order)).toBe('ok 32640 98176 163712');
  });

  it('exposes a read of another thread\'s shared write without a barrier: the result depends on the order', () => {
    expect(run('neighbour', 'forward')).toBe('ok racy=-1 synced=2');
    expect(run('neighbour', 'reverse')).toBe('ok racy=2 synced=2');
  });

  it('gives each block fresh shared memory that reads as garbage (NaN), not zeros or the last block\'s values', () => {
    expect(run('stale-shared')).toBe('ok nan nan');
  });

  it('fails a launch whose __syncthreads half the block skips, says why, and poisons the context as a GPU does', () => {
    expect(run('divergent-barrier')).toBe(
      'error: unspecified launch failure (emulator: kernel failed: 16 of the block\'s 32 threads wait at __syncthreads ' +
      'after the others exited) | then cudaMalloc: error: unspecified launch failure (emulator: kernel failed: 16 of ' +
      'the block\'s 32 threads wait at __syncthreads after the others exited)');
  });

  it('fails a shuffle from a lane outside the mask, and allows groups of lanes that shuffle among themselves', () => {
    expect(run('shuffle-outside-mask')).toMatch(/launch failure .*thread \(0,0,0\) of block \(0,0,0\) shuffles from lane 20, outside the mask/);
    expect(run('group-shuffle', 'reverse')).toBe('ok swapped');
  });

  it('ANDs __syncthreads_and over the block', () => {
    expect(run('syncthreads-and', 'shuffle')).toBe('ok 1 0');
  });

  it('holds launches to an H200\'s limits: dynamic shared memory, block and grid sizes, copies inside allocations', () => {
    expect(run('dynamic-shared')).toBe('without=error: invalid argument | with=ok 134209536 | 300KiB=error: invalid argument');
    expect(run('launch-limits')).toBe('block=error: invalid configuration argument | grid=error: invalid configuration argument');
    expect(run('copy-bounds')).toBe('inside=ok | past=error: invalid argument');
  });
});
