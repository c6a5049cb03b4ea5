import { execFile } from 'node:child_process';
import path from 'node:path';
import { startPgCluster, type PgCluster } from '../src/dev/pg-cluster';
import { DEFAULT_TEST_ROUTES, testEnv, type TempDir } from '../test/helpers/env';
import { onAbort } from './cleanup';
import { seedPostgresLedger, type PgSeedResult } from './pg-seed';
import { postmasterPid } from './proc';
import type { SeedSpec } from './seed';
import { group, ROOT, startSiprec, type ServerHandle, type ServerKind } from './servers';

/**
 * `--store postgres`: one throwaway cluster for the whole run (fsync on, synchronous_commit on: the
 * durability the issue asks for), a fresh database per scenario and subject, and siprec-control on
 * it as production would run it (DATABASE_URL, migrations applied by the service at boot).
 */
export interface PgBench {
  cluster: PgCluster;
  postmaster: number;
  version: string;
  /** A new, empty database; its URL. */
  freshDatabase(name: string): string;
  stop(): void;
}

export async function startPgBench(log: (line: string) => void): Promise<PgBench> {
  const cluster = await startPgCluster({ settings: { fsync: 'on', synchronous_commit: 'on' } });
  const forget = onAbort(() => cluster.destroy());
  const version = cluster.psql('SHOW server_version');
  const settings = cluster.psql("SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_level', 'max_connections')");
  log(`PostgreSQL ${version} on 127.0.0.1:${cluster.port}: ${settings}`);
  let n = 0;
  return {
    cluster,
    postmaster: postmasterPid(cluster.dataDir),
    version,
    freshDatabase: (name) => {
      const db = `${name.replace(/[^a-z0-9_]/gi, '_')}_${++n}`;
      cluster.createDatabase(db);
      return cluster.url(db);
    },
    stop: () => {
      cluster.destroy();
      forget();
    },
  };
}

export interface SubjectSpec {
  kind: ServerKind;
  start(dir: TempDir): Promise<ServerHandle>;
}

/** One instance on a fresh database. */
export const onePg = (pg: PgBench, scenario: string, url?: () => string): SubjectSpec => ({
  kind: 'siprec-control pg',
  start: async (dir) => {
    const kind = 'siprec-control pg';
    const databaseUrl = url ? url() : pg.freshDatabase(scenario);
    return group(kind, [await startSiprec({ dir, databaseUrl, kind })], pg.postmaster);
  },
});

/** Two instances on one fresh database, booted together (the advisory lock orders their migrations). */
export const twoPg = (pg: PgBench, scenario: string): SubjectSpec => ({
  kind: 'siprec-control pg ×2',
  start: async (dir) => {
    const kind = 'siprec-control pg ×2';
    const databaseUrl = pg.freshDatabase(`${scenario}_x2`);
    const started = await Promise.allSettled([startSiprec({ dir, databaseUrl, kind }), startSiprec({ dir, databaseUrl, kind })]);
    const up = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      for (const h of up) await h.stop();
      throw failed.reason;
    }
    return group(kind, up, pg.postmaster);
  },
});

/** `siprec-control migrate` on `url`: the schema exactly as the service would create it. */
function migrate(dir: TempDir, url: string): Promise<void> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', ...testEnv(dir, DEFAULT_TEST_ROUTES), DATABASE_URL: url };
  delete env.DATABASE_PATH;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'migrate'], { env, cwd: dir.dir, timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`siprec-control migrate failed: ${err.message}\n${stdout}${stderr}`)) : resolve(),
    );
  });
}

/** The operator API's 1M-event ledger in PostgreSQL: a database, the service's migrations, the seed. */
export async function seededPgDatabase(pg: PgBench, dir: TempDir, spec: SeedSpec, log: (line: string) => void): Promise<{ url: string; seed: PgSeedResult }> {
  const url = pg.freshDatabase('api_seeded');
  await migrate(dir, url);
  const seed = await seedPostgresLedger(url, spec, log);
  return { url, seed };
}
