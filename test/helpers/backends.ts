// Which backends this machine has, decided synchronously (jest's describe
// blocks cannot await) by probing in a child process.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

export interface Availability {
  available: boolean;
  reason: string;
  device?: string;
}

export function backendAvailability(name: 'cpu' | 'cuda'): Availability {
  // The addon lib/binding.ts loads: ENKG_ADDON_PATH (another build, e.g. the CUDA emulator's) first.
  const addon = process.env.ENKG_ADDON_PATH ?? path.resolve(__dirname, '..', '..', 'build', 'Release', 'enkg.node');
  const script = `require(${JSON.stringify(addon)}).probeBackends().then((b) => process.stdout.write(JSON.stringify(b)))`;
  const list = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as Array<{
    name: string; available: boolean; reason?: string; device?: string;
  }>;
  const entry = list.find((b) => b.name === name);
  const forcedCpu = process.env.ENKG_BACKEND === 'cpu' && name === 'cuda';
  return {
    available: !!entry?.available && !forcedCpu,
    reason: forcedCpu ? 'disabled by ENKG_BACKEND=cpu' : entry?.reason ?? 'not reported',
    device: entry?.device,
  };
}

/**
 * Whether the CUDA backend is the CPU emulator (native/cuda-emu, loaded
 * through ENKG_ADDON_PATH): it checks the kernels' logic at a fraction of a
 * GPU's speed, so GPU-sized tests shrink their problems there.
 */
export function cudaIsEmulated(): boolean {
  const { available, device } = backendAvailability('cuda');
  return available && !!device?.includes('CUDA emulator');
}

/** `describe` when the backend is available, else `describe.skip` with the reason printed once. */
export function describeOnBackend(name: 'cpu' | 'cuda'): jest.Describe {
  const { available, reason } = backendAvailability(name);
  if (!available) {
    console.warn(`Skipping the ${name} suite: ${reason}`);
    return describe.skip;
  }
  return describe;
}
