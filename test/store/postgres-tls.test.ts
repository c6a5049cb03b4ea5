/**
 * TLS through DATABASE_URL, as libpq reads it: sslmode=require, and verify-full or verify-ca with a
 * CA file in sslrootcert (which postgres.js alone ignores). A real cluster with ssl=on and a
 * certificate made here by openssl.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startPgCluster, type PgCluster } from '../../src/dev/pg-cluster';
import { openStore } from '../../src/store';
import { describeWithPostgres } from '../helpers/pg';

const log = pino({ level: 'silent' });

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  chmodSync(key, 0o600);
  // The server reads its key as the postgres user, which PostgreSQL runs as when we are root.
  if (userInfo().uid === 0) execFileSync('chown', ['postgres:postgres', key, cert, dir]);
  return { cert, key };
}

describeWithPostgres('PostgreSQL over TLS, configured by DATABASE_URL', () => {
  let dir: string;
  let cluster: PgCluster;
  let server: { cert: string; key: string };
  let stranger: { cert: string; key: string };
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'siprec-tls-'));
    chmodSync(dir, 0o755);
    server = selfSigned(dir, 'server');
    stranger = selfSigned(dir, 'stranger');
    cluster = await startPgCluster({ settings: { ssl: 'on', ssl_cert_file: `'${server.cert}'`, ssl_key_file: `'${server.key}'` } });
  }, 60_000);
  afterAll(() => {
    cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens the store on `query`, writes, and says whether the store's own connection is encrypted. */
  async function encrypted(query: string): Promise<boolean> {
    const store = await openStore({ kind: 'postgres', url: `${cluster.url()}?${query}`, poolSize: 2 }, { log, mode: 'cli' });
    try {
      await store.ping();
      return cluster.psql("SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'siprec-control%'") === 't';
    } finally {
      await store.close();
    }
  }

  it('encrypts with sslmode=require, and with verify-full or verify-ca against the CA in sslrootcert', async () => {
    expect(await encrypted('sslmode=require')).toBe(true);
    expect(await encrypted(`sslmode=verify-full&sslrootcert=${server.cert}`)).toBe(true);
    expect(await encrypted(`sslmode=verify-ca&sslrootcert=${server.cert}`)).toBe(true);
    expect(await encrypted('sslmode=disable')).toBe(false);
  });

  it('refuses a server whose certificate the CA in sslrootcert did not sign, and says why', async () => {
    await expect(openStore({ kind: 'postgres', url: `${cluster.url()}?sslmode=verify-full&sslrootcert=${stranger.cert}`, poolSize: 1 }, { log, mode: 'cli' })).rejects.toThrow(
      /127\.0\.0\.1:\d+.*(self[- ]signed|certificate)/i,
    );
  });

  it('refuses an sslrootcert it cannot read, or one given with a mode that would not use it', async () => {
    await expect(openStore({ kind: 'postgres', url: `${cluster.url()}?sslmode=verify-full&sslrootcert=${dir}/missing.crt`, poolSize: 1 }, { log, mode: 'cli' })).rejects.toThrow(
      /cannot read sslrootcert .*missing\.crt \(ENOENT\)/,
    );
    await expect(openStore({ kind: 'postgres', url: `${cluster.url()}?sslmode=prefer&sslrootcert=${server.cert}`, poolSize: 1 }, { log, mode: 'cli' })).rejects.toThrow(
      /sslrootcert is given with sslmode=prefer/,
    );
  });
});
