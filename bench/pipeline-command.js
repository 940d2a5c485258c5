#!/usr/bin/env node
// bench/pipeline.ts's forward function as a program for ForwardModel.fromCommand:
// node pipeline-command.js INPUT.npy OUTPUT.npy (float32 [n, C, H, W] in,
// float32 [n, 8] out).
'use strict';
const fs = require('node:fs');
const heavy = require('./pipeline-model.js');

const [input, output] = process.argv.slice(2);
const bytes = fs.readFileSync(input);
const headerLength = bytes.readUInt16LE(8);
const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
const n = Number(/'shape':\s*\((\d+)/.exec(header)[1]);
const x = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLength, bytes.byteOffset + bytes.length));
const d = x.length / n, m = heavy.M;
const y = new Float32Array(n * m);
for (let i = 0; i < n; i++) y.set(heavy(x.subarray(i * d, (i + 1) * d), i), i * m);

let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${m}), }`;
dict = dict.padEnd(Math.ceil((10 + dict.length + 1) / 64) * 64 - 11, ' ') + '\n';
const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
head.writeUInt16LE(dict.length, 8);
fs.writeFileSync(output, Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(y.buffer)]));
