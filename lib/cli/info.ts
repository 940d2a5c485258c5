// `enkg info`: version, build, and each backend with the reason it is unavailable.
import { backends, cudaLibraries } from '../backend';
import { native } from '../binding';
import { version } from '../version';

/** "not found (tried a, b, c)": the names from a loader reason, without each dlerror message (--json has them). */
function notLoaded(reason: string): string {
  const names = [...reason.matchAll(/(?:tried |; )(\S+) \(/g)].map((m) => m[1]);
  return names.length > 0 ? `not found (tried ${names.join(', ')})` : `not loaded: ${reason}`;
}

export async function info(json: boolean): Promise<string> {
  const list = await backends();
  const build = native.buildInfo();
  const libraries = build.cuda ? await cudaLibraries() : [];
  if (json) return JSON.stringify({ version, build, backends: list, cudaLibraries: libraries }, null, 2);
  const lines = [
    `enkg ${version} (node ${process.version}, ${process.platform}-${process.arch})`,
    `build: CPU (OpenBLAS${build.openmp ? ', OpenMP' : ''})` +
      (build.cuda ? ` + CUDA (architectures ${build.cudaArchitectures ?? 'default'})` : ', no CUDA'),
    'backends:',
  ];
  for (const b of list) {
    const state = b.available ? 'available' : 'unavailable';
    const bandwidth = b.memoryBandwidth ? `, ${(b.memoryBandwidth / 1e12).toFixed(2)} TB/s peak memory bandwidth` : '';
    lines.push(`  ${b.name.padEnd(5)} ${state}${b.device ? `  ${b.device}${bandwidth}` : ''}`);
    if (!b.available && b.reason) lines.push(`        reason: ${b.reason}`);
  }
  if (libraries.length > 0) lines.push('CUDA libraries (dlopen; ENKG_CUDA_LIB_DIR adds directories):');
  for (const lib of libraries) lines.push(`  ${lib.name.padEnd(6)} ${lib.loaded ? lib.path : notLoaded(lib.reason ?? '')}`);
  const auto = list.find((b) => b.name === 'cuda')?.available ? 'cuda' : 'cpu';
  lines.push(`default (backend 'auto'): ${auto}${process.env.ENKG_BACKEND ? ` (ENKG_BACKEND=${process.env.ENKG_BACKEND})` : ''}`);
  return lines.join('\n');
}
