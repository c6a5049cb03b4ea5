import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { findPgBinDir, startPgCluster, type PgCluster } from '../src/dev/pg-cluster';

const ROOT = path.resolve(__dirname, '..');

/**
 * Once per jest run, before any test file:
 * - builds dist/ from the sources being tested, so that the ledger's writer thread and every child
 *   process (the CLI, the server) run the code under test, not the previous build;
 * - starts a throwaway PostgreSQL cluster (fsync on) for the suites that run against both backends,
 *   when PostgreSQL is installed. Each test makes its own database in it (test/helpers/pg.ts).
 */
export default async function globalSetup(): Promise<void> {
  // tsc emits even when a type is wrong; `npm run typecheck` (before jest in npm test) is what fails
  // on types, so a jest run mid-edit still tests the code as written, with the errors shown.
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' });
  if (tsc.status !== 0) process.stderr.write(`\nglobalSetup: the build reported errors (dist/ was still written):\n${tsc.stdout}${tsc.stderr}\n`);
  execFileSync('npm', ['run', '-s', 'postbuild'], { cwd: ROOT, stdio: 'inherit' });
  if (process.env.SIPREC_TEST_PG_URL || !findPgBinDir()) return;
  const cluster = await startPgCluster();
  (globalThis as { __siprecPg?: PgCluster }).__siprecPg = cluster;
  process.env.SIPREC_TEST_PG_URL = cluster.url();
}
