// How informative the Navier-Stokes data misfit is away from the truth
// (bench/RESULTS.md, accuracy section): the held-out field `--field` is moved
// a fraction a of the way toward each of the `--others` held-out fields, and
// the data misfit ||G(x) - y_obs||^2 / m (noise 0) is printed against the
// relative L2 error of the moved field.
//
// Options: --field 0  --others 1,2,3,4,5  --fractions 0.05,0.1,0.2,0.3,0.5,0.7,1  --backend cpu|cuda|auto
import { parseArgs } from 'node:util';

import { heldOutField, NavierStokes2D, relativeL2 } from '../lib';
import { dataMisfit } from '../lib/algorithms/run';

import { run } from './common';

async function main(): Promise<void> {
  const { values } = parseArgs({
    strict: true,
    options: {
      field: { type: 'string', default: '0' }, others: { type: 'string', default: '1,2,3,4,5' },
      fractions: { type: 'string', default: '0.05,0.1,0.2,0.3,0.5,0.7,1' }, backend: { type: 'string', default: 'auto' },
    },
  });
  const fractions = String(values.fractions).split(',').map(Number);
  const others = String(values.others).split(',').map(Number);
  const truth = await heldOutField(Number(values.field));
  const model = new NavierStokes2D({ resolution: 64, backend: values.backend as 'cpu' | 'cuda' | 'auto' });
  const observation = await model.forward(truth, 1);
  const m = model.measurementSize, d = truth.length;
  console.log(`zero field: misfit ${dataMisfit(await model.forward(new Float32Array(d), 1), 1, observation).mean.toFixed(1)}`);
  const errors = fractions.map(() => 0), misfits = fractions.map(() => 0);
  for (const o of others) {
    const other = await heldOutField(o);
    const x = new Float32Array(fractions.length * d);
    fractions.forEach((a, i) => {
      for (let j = 0; j < d; j++) x[i * d + j] = (1 - a) * truth[j] + a * other[j];
    });
    const y = await model.forward(x, fractions.length);
    const cells = fractions.map((a, i) => {
      const error = relativeL2(x.subarray(i * d, (i + 1) * d), 1, truth);
      const misfit = dataMisfit(y.subarray(i * m, (i + 1) * m), 1, observation).mean;
      errors[i] += error / others.length;
      misfits[i] += misfit / others.length;
      return `${error.toFixed(2)}: ${misfit.toFixed(1)}`;
    });
    console.log(`toward field ${o} (relative L2: misfit)  ${cells.join('  ')}`);
  }
  console.log(`\n| relative L2 to the truth | ${errors.map((e) => e.toFixed(2)).join(' | ')} |`);
  console.log(`|---|${errors.map(() => '---|').join('')}`);
  console.log(`| data misfit | ${misfits.map((e) => e.toFixed(1)).join(' | ')} |`);
}

run(main);
