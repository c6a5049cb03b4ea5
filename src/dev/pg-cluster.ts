import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';

/**
 * Throwaway PostgreSQL clusters for tests, the bench and failover drills: initdb into a temp dir,
 * listening on 127.0.0.1 on a free port, removed afterwards. PostgreSQL refuses to run as root, so as
 * root every server binary runs as the `postgres` OS user (Debian's package makes it).
 */

export const PG_INSTALL_HINT = 'apt-get install -y postgresql';

/** The newest server binaries on the machine (PG_BINDIR overrides), or null when PostgreSQL is not installed. */
export function findPgBinDir(): string | null {
  const fromEnv = process.env.PG_BINDIR;
  if (fromEnv) return existsSync(path.join(fromEnv, 'initdb')) ? fromEnv : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : null;
}

const asRoot = () => userInfo().uid === 0;

function pgUser(): { uid: number; gid: number } | null {
  if (!asRoot()) return null;
  const out = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error('running as root needs the postgres OS user to run PostgreSQL: ' + PG_INSTALL_HINT);
  return { uid: Number(out.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
function run(bin: string, args: string[], options: { allowFail?: boolean } = {}): string {
  const cmd = asRoot() ? 'runuser' : bin;
  const argv = asRoot() ? ['-u', 'postgres', '--', bin, ...args] : args;
  const res = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  if (res.status !== 0 && !options.allowFail) {
    throw new Error(`${path.basename(bin)} ${args.join(' ')} failed (${res.status ?? res.signal}): ${res.stderr || res.stdout}`);
  }
  return res.stdout;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface ClusterOptions {
  /** Extra postgresql.conf lines (`key = value`). */
  settings?: Record<string, string | number>;
  /** Start as a streaming standby of this cluster (pg_basebackup -R), instead of initdb. */
  standbyOf?: PgCluster;
  /** For a standby: the name it reports as application_name (for synchronous_standby_names). */
  applicationName?: string;
}

export interface PgCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres@127.0.0.1:port/<db> (trust authentication: no password). */
  url(database?: string): string;
  /** Runs SQL through psql and returns its unaligned, tuples-only output. */
  psql(sql: string, database?: string): string;
  createDatabase(name: string, template?: string): void;
  start(): void;
  /** pg_ctl stop -m fast|immediate. */
  stop(mode?: 'fast' | 'immediate'): void;
  restart(mode?: 'fast' | 'immediate'): void;
  /** kill -9 of the postmaster: what a crashed host looks like. */
  kill9(): void;
  promote(): void;
  running(): boolean;
  /** Stops the server (immediately) and removes its files. */
  destroy(): void;
}

const BASE_SETTINGS: Record<string, string | number> = {
  listen_addresses: "'127.0.0.1'",
  fsync: 'on',
  synchronous_commit: 'on',
  max_connections: 300,
  shared_buffers: "'64MB'",
  wal_level: 'replica',
  max_wal_senders: 10,
  hot_standby: 'on',
  log_min_messages: 'warning',
  logging_collector: 'off',
  // Tests make and drop many databases: a checkpoint per CREATE DATABASE is cheaper with this.
  checkpoint_timeout: "'30min'",
};

function conf(settings: Record<string, string | number>): string {
  return Object.entries(settings)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n') + '\n';
}

function makeDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const user = pgUser();
  if (user) chownSync(dir, user.uid, user.gid);
  chmodSync(dir, 0o700);
  return dir;
}

/** Starts a new cluster (or a standby of one), listening on 127.0.0.1 on a free port. */
export async function startPgCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const bin = findPgBinDir();
  if (!bin) throw new Error(`PostgreSQL is not installed: ${PG_INSTALL_HINT}`);
  const port = await freePort();
  const root = makeDir('siprec-pg-');
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'server.log');
  const tool = (name: string) => path.join(bin, name);

  if (options.standbyOf) {
    const primary = options.standbyOf;
    const app = options.applicationName ?? 'standby';
    run(tool('pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '-d', `application_name=${app}`]);
  } else {
    run(tool('initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
    appendFileSync(path.join(dataDir, 'pg_hba.conf'), 'host replication postgres 127.0.0.1/32 trust\n');
  }
  // A socket in the cluster's own folder: /var/run/postgresql may not exist or be writable.
  const settings = { ...BASE_SETTINGS, port, unix_socket_directories: `'${root}'`, ...options.settings };
  appendFileSync(path.join(dataDir, 'postgresql.conf'), conf(settings));

  const pgCtl = (args: string[], allowFail = false) => run(tool('pg_ctl'), ['-D', dataDir, ...args], { allowFail });
  const pidOf = (): number | null => {
    const file = path.join(dataDir, 'postmaster.pid');
    if (!existsSync(file)) return null;
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  };
  // A killed postmaster can linger as a zombie when nothing reaps it (a container's pid 1): not alive.
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  const cluster: PgCluster = {
    host: '127.0.0.1',
    port,
    dataDir,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    psql: (sql, database = 'postgres') =>
      execFileSync(path.join(bin, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql], {
        encoding: 'utf8',
        timeout: 30_000,
      }).trim(),
    createDatabase: (name, template) => {
      cluster.psql(`CREATE DATABASE "${name.replace(/"/g, '')}"${template ? ` TEMPLATE "${template.replace(/"/g, '')}"` : ''}`);
    },
    start: () => void pgCtl(['-l', logFile, '-w', '-t', '60', 'start']),
    stop: (mode = 'fast') => void pgCtl(['-m', mode, '-w', '-t', '60', 'stop'], true),
    restart: (mode = 'fast') => void pgCtl(['-l', logFile, '-m', mode, '-w', '-t', '60', 'restart']),
    kill9: () => {
      const pid = pidOf();
      if (pid !== null && alive(pid)) process.kill(pid, 'SIGKILL');
      // The backends notice their postmaster is gone and exit; wait so that the port is free.
      const until = Date.now() + 10_000;
      const lingering = () => (pid !== null && alive(pid)) || spawnSync('pgrep', ['-f', '--', dataDir]).status === 0;
      while (Date.now() < until && lingering()) spawnSync('sleep', ['0.05']);
    },
    promote: () => void pgCtl(['-w', '-t', '60', 'promote']),
    running: () => {
      const pid = pidOf();
      return pid !== null && alive(pid);
    },
    destroy: () => {
      if (cluster.running()) cluster.stop('immediate');
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    cluster.start();
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    rmSync(root, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return cluster;
}
