import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The version in package.json, read at run time: the file sits one folder above both src/ and
 * dist/, and is outside tsc's rootDir, so it cannot be imported.
 */
export function packageVersion(): string {
  const file = path.join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
