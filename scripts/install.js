#!/usr/bin/env node
// `npm install` entry point: builds the native addon with cmake-js and then,
// in a source checkout, compiles the TypeScript. Written in plain JavaScript
// because it runs before anything is compiled.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function run(command, args, what) {
  console.log(`enkg: ${what}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.error) {
    console.error(`enkg: could not start ${command}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(`enkg: ${what} failed (exit code ${result.status}). See the messages above; ` +
      'the README lists the system packages the build needs (cmake, g++, libopenblas-dev).');
    process.exit(result.status || 1);
  }
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
// Sources compile in parallel (the CUDA files take minutes each with nvcc).
const args = [cmakeJs, 'compile', '--out', 'build', '--parallel', String(Math.max(1, require('node:os').cpus().length))];
if (process.env.ENKG_DEBUG_BUILD) args.push('--debug');
run(process.execPath, args, 'building the native addon with cmake-js');

// A source checkout has lib/ and the TypeScript compiler (a dev dependency);
// a published package ships dist/ already compiled.
let tsc = null;
try {
  tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
} catch {
  tsc = null;
}
if (fs.existsSync(path.join(root, 'lib')) && tsc) {
  run(process.execPath, [tsc, '-p', 'tsconfig.json'], 'compiling the TypeScript sources');
  // `npx enkg` in a checkout runs the bin file directly, and tsc writes it
  // without the executable bit.
  fs.chmodSync(path.join(root, 'dist', 'cli', 'main.js'), 0o755);
} else if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('enkg: dist/ is missing and TypeScript is not installed; run `npm install --include=dev`.');
  process.exit(1);
}
