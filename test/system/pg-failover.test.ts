import { startPgCluster, type PgCluster } from '../../src/dev/pg-cluster';
import { buildSignedCallbacks, missingOrDoubled } from '../helpers/callback-load';
import { tempDir, type TempDir } from '../helpers/env';
import { describeWithPostgres } from '../helpers/pg';
import { pgEnv, readPgLedger, sendTimedCallbacks, type TimedAck } from '../helpers/pg-faults-ledger';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

/**
 * Issue 16, system test 4: a primary with a synchronous standby, and a multi-host DATABASE_URL that
 * asks for the read-write one. Under signed callback load the primary's postmaster is killed (-9, a
 * crashed host) and the standby promoted. The same service process must find the new primary by
 * itself, and every callback it acknowledged, before or after, must be on the new primary once.
 */

const SESSIONS = 300; // two callbacks each
const CLIENTS = 8;
/** The failover happens once this many callbacks are acknowledged: load before and after it. */
const KILL_AT_ACK = 200;
const LOAD_DEADLINE_MS = 90_000;

describeWithPostgres('failover to a synchronous standby under callback load', () => {
  let dir: TempDir;
  let primary: PgCluster | undefined;
  let standby: PgCluster | undefined;
  let server: ServerProcess | undefined;

  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    server?.child.kill('SIGKILL');
    await server?.exited;
    server = undefined;
    standby?.destroy();
    primary?.destroy();
    standby = primary = undefined;
    dir.remove();
  });

  it('reconnects on its own, and every acknowledged callback is on the new primary exactly once', async () => {
    primary = await startPgCluster();
    standby = await startPgCluster({ standbyOf: primary, applicationName: 's1' });
    // After the base backup, so that the standby, once promoted, does not wait for a standby of its own.
    primary.psql("ALTER SYSTEM SET synchronous_standby_names = 's1'");
    primary.psql('SELECT pg_reload_conf()');
    const syncUntil = Date.now() + 15_000;
    let replication = '';
    while (Date.now() < syncUntil && replication !== 's1|sync|streaming') {
      replication = primary.psql("SELECT application_name, sync_state, state FROM pg_stat_replication WHERE application_name = 's1'");
      if (replication !== 's1|sync|streaming') await new Promise((r) => setTimeout(r, 100));
    }
    expect(replication).toBe('s1|sync|streaming');

    const url = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`;
    server = await startServerProcess(pgEnv(dir, url), 40_000);

    let killedAt = 0;
    let promotedAt = 0;
    const callbacks = buildSignedCallbacks(SESSIONS);
    const load = await sendTimedCallbacks(callbacks, {
      clients: CLIENTS,
      url: server.url,
      deadlineMs: LOAD_DEADLINE_MS,
      stop: () => server!.child.exitCode !== null || server!.child.signalCode !== null,
      onAck: (acks) => {
        if (killedAt || acks.length < KILL_AT_ACK) return;
        killedAt = Date.now();
        // Both block this process (kill9 waits for the backends to go, promote for the promotion):
        // the clients pause meanwhile, which is why "after" counts attempts sent after the kill.
        primary!.kill9();
        standby!.promote();
        promotedAt = Date.now();
      },
    });

    const before = load.acks.filter((a) => a.sentAt < killedAt);
    const after = load.acks.filter((a) => a.sentAt >= killedAt);
    const firstAfter = after.reduce<TimedAck | null>((first, a) => (!first || a.ackedAt < first.ackedAt ? a : first), null);
    const ready = await fetch(`${server.url}/readyz`).then((r) => r.status, () => 0);
    const exited = server.child.exitCode ?? server.child.signalCode;
    if (exited !== null) console.log(`the service exited (${exited}) during the failover; its last output:\n${server.output().slice(-3000)}`);
    const ledger = await readPgLedger(standby.url());
    const wrong = missingOrDoubled(load.acks.map((a) => a.key), ledger.counts);
    const figures = {
      sent: callbacks.length,
      ackedBefore: before.length,
      ackedAfter: after.length,
      lost: wrong.filter((w) => w.endsWith(' 0 times')).length,
      twice: wrong.filter((w) => !w.endsWith(' 0 times')).length,
      storedOnNewPrimary: ledger.stored,
      killToPromotedMs: promotedAt - killedAt,
      killToFirst204AfterMs: firstAfter ? firstAfter.ackedAt - killedAt : null,
      answered503: load.unavailable,
      connectionFailures: load.connectionFailures,
      unexpected: load.unexpected.length,
      serviceExited: exited,
    };
    console.log(`pg failover: ${JSON.stringify(figures)}`);

    expect(killedAt).toBeGreaterThan(0);
    expect(primary.running()).toBe(false);
    expect(load.unexpected).toEqual([]);
    // Every callback got its 204 in the end, from the same process: no restart.
    expect(load.acks).toHaveLength(callbacks.length);
    expect(exited).toBeNull();
    expect(ready).toBe(200);
    expect(after.length).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
    // Nothing stored that was not acknowledged: each callback was sent until acknowledged, once stored.
    expect(ledger.stored).toBe(callbacks.length);
  }, 150_000);
});
