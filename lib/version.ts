import * as fs from 'node:fs';
import * as path from 'node:path';

/** The package version, read from package.json (one level above lib/ and dist/). */
export const version: string = (
  JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;
