/**
 * What each client does with what a failover needs, tried rather than read: a multi-host URL with
 * a standby listed first, target_session_attrs=read-write and =primary, a dead host listed first,
 * and a real failover (kill -9 of the primary, promotion of the standby) under one live client.
 */
import pg from 'pg';
import postgres from 'postgres';
import { onAbort } from './cleanup';
import { freePort, startPgCluster, type PgCluster } from '../src/dev/pg-cluster';

export interface ProbeResult {
  client: 'pg' | 'postgres';
  case: string;
  outcome: string;
}

type Log = (line: string) => void;
const WHO = 'SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port';
const describe = (row: { standby: boolean; port: number }, primary: PgCluster) =>
  `${row.standby ? 'a STANDBY' : row.port === primary.port ? 'the primary' : 'a primary'} (port ${row.port})`;
const message = (err: unknown) => ((err as Error).message || String(err)).split('\n')[0]!.slice(0, 160);

async function withPostgresJs(url: string, primary: PgCluster): Promise<string> {
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => undefined });
  const t0 = Date.now();
  try {
    const [row] = await sql<Array<{ standby: boolean; port: number }>>`SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port`;
    return `connected to ${describe(row!, primary)} in ${Date.now() - t0} ms`;
  } catch (err) {
    return `error after ${Date.now() - t0} ms: ${message(err)}`;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

async function withPg(url: string, primary: PgCluster): Promise<string> {
  const t0 = Date.now();
  let client: pg.Client | undefined;
  try {
    client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    await client.connect();
    const { rows } = await client.query<{ standby: boolean; port: number }>(WHO);
    return `connected to ${describe(rows[0]!, primary)} in ${Date.now() - t0} ms`;
  } catch (err) {
    return `error after ${Date.now() - t0} ms: ${message(err)}`;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/**
 * One postgres.js pool through a failover: queries every 100 ms on a multi-host URL, the primary
 * killed (-9) and the standby promoted; how long until a write succeeds again, on which server.
 */
async function failoverUnderOneClient(primary: PgCluster, standby: PgCluster, attrs: string, log: Log): Promise<string> {
  const url = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=${attrs}`;
  const sql = postgres(url, { max: 2, connect_timeout: 3, onnotice: () => undefined });
  try {
    await sql`CREATE TABLE IF NOT EXISTS probe (at bigint)`;
    await sql`INSERT INTO probe VALUES (${Date.now()})`;
    primary.kill9();
    const killedAt = Date.now();
    standby.promote();
    log(`failover probe: primary killed, standby promoted in ${Date.now() - killedAt} ms; waiting for postgres.js to write again`);
    let failures = 0;
    while (Date.now() - killedAt < 30_000) {
      try {
        await sql`INSERT INTO probe VALUES (${Date.now()})`;
        const [row] = await sql<Array<{ standby: boolean; port: number }>>`SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port`;
        return `writes again ${Date.now() - killedAt} ms after the kill, on ${row!.port === standby.port ? 'the promoted standby' : `port ${row!.port}`}, after ${failures} failed attempts, same pool, no restart`;
      } catch {
        failures++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return `no write succeeded within 30 s of the kill (${failures} failed attempts)`;
  } finally {
    await sql.end({ timeout: 2 });
  }
}

export async function probeFailover(log: Log): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  const primary = await startPgCluster();
  let standby: PgCluster | undefined;
  const forget = onAbort(() => (standby?.destroy(), primary.destroy()));
  try {
    standby = await startPgCluster({ standbyOf: primary, applicationName: 'standby' });
    const dead = await freePort();
    const hosts = (a: number, b: number) => `postgres://postgres@127.0.0.1:${a},127.0.0.1:${b}/postgres`;
    const cases: Array<[string, string]> = [
      ['standby listed first, target_session_attrs=read-write', `${hosts(standby.port, primary.port)}?target_session_attrs=read-write`],
      ['standby listed first, target_session_attrs=primary', `${hosts(standby.port, primary.port)}?target_session_attrs=primary`],
      ['dead port listed first, target_session_attrs=primary', `${hosts(dead, primary.port)}?target_session_attrs=primary`],
    ];
    for (const [name, url] of cases) {
      for (const [client, run] of [['pg', withPg], ['postgres', withPostgresJs]] as const) {
        const outcome = await run(url, primary);
        results.push({ client, case: name, outcome });
        log(`failover probe: ${client.padEnd(8)} ${name}: ${outcome}`);
      }
    }
    const pgRefused = results.filter((r) => r.client === 'pg').every((r) => r.outcome.startsWith('error'));
    if (pgRefused) results.push({ client: 'pg', case: 'kill -9 of the primary, standby promoted, one live pool', outcome: 'not tried: pg took none of the multi-host URLs above' });
    const outcome = await failoverUnderOneClient(primary, standby, 'primary', log);
    results.push({ client: 'postgres', case: 'kill -9 of the primary, standby promoted, one live pool (target_session_attrs=primary)', outcome });
    log(`failover probe: postgres kill -9 + promote: ${outcome}`);
  } finally {
    standby?.destroy();
    primary.destroy();
    forget();
  }
  return results;
}
