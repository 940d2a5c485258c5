#!/usr/bin/env node
// Runs an exported prior with onnxruntime-node on inputs saved by export.py
// and prints the largest difference from PyTorch's outputs, as JSON.
// Usage: node tools/prior/check_onnx.js MODEL.onnx X.npy SIGMA.npy EXPECTED.npy
'use strict';
const path = require('node:path');
const root = path.resolve(__dirname, '..', '..');
const ort = require(require.resolve('onnxruntime-node', { paths: [root] }));
const { readNpy } = require(path.join(root, 'dist', 'io', 'npy'));

(async () => {
  const [model, xFile, sigmaFile, expectedFile] = process.argv.slice(2);
  const x = await readNpy(xFile), sigma = await readNpy(sigmaFile), expected = await readNpy(expectedFile);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const out = await session.run({
    x: new ort.Tensor('float32', x.data, x.shape), sigma: new ort.Tensor('float32', sigma.data, sigma.shape),
  });
  const got = out.denoised.data;
  let diff = 0, scale = 0;
  for (let i = 0; i < got.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - expected.data[i]));
    scale = Math.max(scale, Math.abs(expected.data[i]));
  }
  console.log(JSON.stringify({ maxAbsDiff: diff, maxAbs: scale, relative: diff / scale, shape: out.denoised.dims }));
})().catch((e) => { console.error(e.message); process.exit(1); });
