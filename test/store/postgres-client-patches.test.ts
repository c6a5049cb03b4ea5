/**
 * What patches/postgres+3.4.9.patch fixes in postgres.js, shown on the library itself (this fails on
 * the unpatched 3.4.9; `npm ci` applies the patch in postinstall). The patch's other fix, a process
 * killed by a write to a closed socket when a transaction's connection is lost, is shown on the
 * whole service by test/system/pg-restart-immediate.test.ts and pg-failover.test.ts.
 */
import postgres from 'postgres';
import { startPgCluster, type PgCluster } from '../../src/dev/pg-cluster';
import { describeWithPostgres } from '../helpers/pg';

describeWithPostgres('postgres.js as patched', () => {
  describe('target_session_attrs=read-write with a standby listed first', () => {
    let primary: PgCluster;
    let standby: PgCluster;
    beforeAll(async () => {
      primary = await startPgCluster();
      standby = await startPgCluster({ standbyOf: primary, applicationName: 's1' });
    }, 60_000);
    afterAll(() => {
      standby?.destroy();
      primary?.destroy();
    });

    it('connects to the primary, as libpq does', async () => {
      const url = `postgres://postgres@127.0.0.1:${standby.port},127.0.0.1:${primary.port}/postgres?target_session_attrs=read-write`;
      const sql = postgres(url, { max: 1, onnotice: () => undefined });
      try {
        const [row] = await sql<{ port: number; recovery: boolean }[]>`SELECT current_setting('port')::int AS port, pg_is_in_recovery() AS recovery`;
        expect(row).toEqual({ port: primary.port, recovery: false });
      } finally {
        await sql.end();
      }
    });
  });
});
