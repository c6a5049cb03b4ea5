import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './server-process';

/**
 * The devDependencies nothing in production needs: npm's lockfile marks a package `dev` only when no
 * production dependency pulls it in (yaml is one of ours, and patch-package's too, so it stays).
 */
export function devOnlyDependencies(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.keys(pkg.devDependencies).filter((name) => lock.packages[`node_modules/${name}`]?.dev === true);
}
