// The Navier-Stokes map of bench/RESULTS.md ("The map: where a CPU-sized
// ensemble reconstructs") as a figure: ensemble-mean relative L2 against the
// ensemble size, one panel per observation time, one line per configuration.
//
//   node bench/plot-map.mjs [--data bench/ns-map.json] [--out docs/ns-map.svg]
//
// The numbers are the map's, each with the section of bench/RESULTS.md it was
// measured in (ns-map.json); this script only draws them. An ES module
// because vega and vega-lite are (ts-node's CommonJS cannot load them).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as vega from 'vega';
import * as vl from 'vega-lite';

const { values: args } = parseArgs({
  strict: true,
  options: { data: { type: 'string', default: 'bench/ns-map.json' }, out: { type: 'string', default: 'docs/ns-map.svg' } },
});

const map = JSON.parse(fs.readFileSync(args.data, 'utf8'));
if (!Array.isArray(map.points) || map.points.length === 0) throw new Error(`${args.data}: expected { points: [...] } with at least one point`);
for (const [i, p] of map.points.entries()) {
  if (p.prior !== 'shipped' && p.prior !== 'first release') throw new Error(`${args.data}: points[${i}].prior: expected 'shipped' or 'first release', received ${JSON.stringify(p.prior)}`);
  for (const key of ['time', 'ensemble', 'relativeL2Mean']) {
    if (typeof p[key] !== 'number' || !Number.isFinite(p[key])) throw new Error(`${args.data}: points[${i}].${key}: expected a number, received ${JSON.stringify(p[key])}`);
  }
  if (typeof p.series !== 'string' || !map.series?.includes(p.series)) throw new Error(`${args.data}: points[${i}].series: expected one of map.series, received ${JSON.stringify(p.series)}`);
}

const spec = vl.compile({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: 'Navier-Stokes 64x64 on a 2-core CPU: ensemble-mean relative L2 against N', subtitle: map.subtitle },
  data: { values: map.points },
  facet: { column: { field: 'time', type: 'ordinal', title: null, sort: 'ascending', header: { labelExpr: "'T = ' + datum.value", labelFontSize: 13 } } },
  spec: {
    width: 230,
    height: 230,
    layer: [
      {
        mark: { type: 'line' },
        encoding: {
          x: { field: 'ensemble', type: 'quantitative' },
          y: { field: 'relativeL2Mean', type: 'quantitative' },
          color: { field: 'series', type: 'nominal', sort: map.series },
        },
      },
      {
        // Points: filled where the shipped prior was used, hollow for its first release.
        mark: { type: 'point', size: 45, strokeWidth: 1.5 },
        encoding: {
          fill: { condition: { test: "datum.prior === 'shipped'", field: 'series', type: 'nominal', sort: map.series }, value: 'white' },
          x: { field: 'ensemble', type: 'quantitative', title: 'ensemble size N', scale: { type: 'log', base: 2, domain: [48, 1200] }, axis: { values: [64, 128, 256, 512, 1024], format: 'd' } },
          y: { field: 'relativeL2Mean', type: 'quantitative', title: 'relative L2 of the ensemble mean', scale: { domain: [0, 1.1] } },
          color: { field: 'series', type: 'nominal', title: null, sort: map.series, legend: { orient: 'bottom', columns: 2, labelLimit: 0, columnPadding: 30 } },
        },
      },
      {
        data: { values: [{ goal: map.goal }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#777' },
        encoding: { y: { field: 'goal', type: 'quantitative' } },
      },
    ],
  },
  resolve: { scale: { x: 'shared', y: 'shared' } },
  config: { font: 'sans-serif' },
}).spec;

const svg = await new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG();
// Whole or not at all: write beside the target, then rename over it.
const tmp = path.join(path.dirname(args.out), `.${path.basename(args.out)}.${process.pid}.tmp`);
fs.writeFileSync(tmp, svg);
fs.renameSync(tmp, args.out);
console.log(`wrote ${args.out} (${map.points.length} points, ${map.series.length} series)`);
