import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { startPgCluster, type PgCluster } from '../../src/dev/pg-cluster';
import { buildSignedCallbacks, missingOrDoubled, sendCallbacks } from '../helpers/callback-load';
import { closedPort, runCli } from '../helpers/cli-process';
import { tempDir, type TempDir } from '../helpers/env';
import { BEARER } from '../helpers/operator-api';
import { describeWithPostgres } from '../helpers/pg';
import { pgEnv, readPgLedger } from '../helpers/pg-faults-ledger';
import { findSample, parsePrometheusText } from '../helpers/prometheus-text';
import { brokenPromises, callbackProbe, faultWave, readyzProbe, slowest, type Probe } from '../helpers/pg-faults-probes';
import { runMain, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

/**
 * Issue 16, "Faults" and system test 5: PostgreSQL hung (a TCP proxy that stops forwarding: the
 * connection stays open, nothing answers) or down (pg_ctl stop) under a running server, then back;
 * and a boot with the database unreachable. The call comes first, nothing waits on the database past
 * its deadline, the process survives and recovers by itself, and the password never shows.
 */

const PASSWORD = 's3cretPW';
/** Long enough that every write in flight has passed its own deadline (~4 s) and the pool is wedged, if it can be. */
const SECOND_WAVE_AFTER_MS = 7_000;
const RECOVERY_WITHIN_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the TCP proxy the fault tests put in front of PostgreSQL', () => {
  it('forwards, holds every byte without answering while hung, and delivers them on resume', async () => {
    const echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
    await new Promise((r) => echo.once('listening', r));
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port });
    const client = net.connect(proxy.port, '127.0.0.1');
    let got = '';
    client.on('data', (d: Buffer) => (got += d.toString()));
    try {
      await new Promise((r) => client.once('connect', r));
      client.write('one;');
      await sleep(200);
      expect(got).toBe('one;');
      proxy.hang();
      client.write('two;');
      const late = net.connect(proxy.port, '127.0.0.1');
      late.on('data', (d: Buffer) => (got += `late:${d.toString()}`));
      await new Promise((r) => late.once('connect', r));
      late.write('three;');
      await sleep(500);
      expect(got).toBe('one;');
      expect(proxy.heldBytes()).toBe('two;three;'.length);
      expect(proxy.connections()).toBe(2);
      proxy.resume();
      await sleep(300);
      expect(got).toContain('two;');
      expect(got).toContain('late:three;');
      late.destroy();
    } finally {
      client.destroy();
      await proxy.close();
      echo.close();
    }
  });
});

describeWithPostgres('PostgreSQL faults under a running server', () => {
  let cluster: PgCluster;
  let dir: TempDir;
  let server: ServerProcess | undefined;
  let proxy: TcpProxy | undefined;

  beforeAll(async () => {
    cluster = await startPgCluster();
  }, 60_000);
  afterAll(() => cluster?.destroy());
  beforeEach(() => (dir = tempDir()));
  afterEach(async () => {
    server?.child.kill('SIGKILL');
    await server?.exited;
    server = undefined;
    await proxy?.close();
    proxy = undefined;
    if (cluster && !cluster.running()) cluster.start();
    dir.remove();
  });

  const newDatabase = () => {
    const name = `f_${randomBytes(5).toString('hex')}`;
    cluster.createDatabase(name);
    return name;
  };

  interface Fault {
    name: string;
    /** The DATABASE_URL the server gets, for a database `db` of the cluster. */
    url(db: string): Promise<string>;
    inject(): void;
    remove(): void;
  }
  const hung: Fault = {
    name: 'it hangs (accepts TCP, answers nothing)',
    url: async (db) => {
      proxy = await startTcpProxy({ host: '127.0.0.1', port: cluster.port });
      return `postgres://postgres@127.0.0.1:${proxy.port}/${db}`;
    },
    inject: () => proxy!.hang(),
    remove: () => proxy!.resume(),
  };
  const down: Fault = {
    name: 'it is stopped',
    url: (db) => Promise.resolve(cluster.url(db)),
    inject: () => cluster.stop('fast'),
    remove: () => cluster.start(),
  };

  it.each([hung, down])('when $name: TwiML within 2 s, callbacks 503 + Retry-After and /readyz 503 within 5 s, no crash; then recovery by itself', async (fault) => {
    const db = newDatabase();
    const url = await fault.url(db);
    server = await startServerProcess(pgEnv(dir, url), 40_000);
    const [warmUp, wave1, wave2, after] = ((all) => [all.slice(0, 10), all.slice(10, 40), all.slice(40, 70), all.slice(70, 90)])(buildSignedCallbacks(45));
    for (const cb of warmUp) expect((await callbackProbe(server.url, cb)).status).toBe(204);
    expect((await readyzProbe(server.url)).status).toBe(200);

    fault.inject();
    const injectedAt = Date.now();
    const first = await faultWave(server.url, wave1, 5);
    await sleep(Math.max(0, injectedAt + SECOND_WAVE_AFTER_MS - Date.now()));
    const second = await faultWave(server.url, wave2, 5);
    const aliveWhileFaulty = server.child.exitCode === null && server.child.signalCode === null;

    fault.remove();
    const removedAt = Date.now();
    let recoveredAt = 0;
    while (!recoveredAt && Date.now() < removedAt + RECOVERY_WITHIN_MS) {
      if ((await readyzProbe(server.url)).status === 200) recoveredAt = Date.now();
      else await sleep(250);
    }
    // Twilio retries what was refused; then fresh callbacks, each acknowledged at its first attempt.
    const refused = [...wave1, ...wave2];
    const retried = await sendCallbacks(refused, { clients: 8, target: () => server!.url, deadlineMs: 20_000 });
    const fresh: Probe[] = [];
    for (const cb of after) fresh.push(await callbackProbe(server.url, cb));
    const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: BEARER } }).then((r) => r.text());
    // At least the first wave's calls: their writes failed while the fault lasted (the second's may commit after it).
    const voiceWritesFailed = findSample(parsePrometheusText(metrics), 'siprec_ledger_write_failures_total')?.value ?? 0;

    server.child.kill('SIGTERM');
    const exit = await server.exited;
    const acknowledged = [...warmUp.map((c) => c.key), ...retried.acked, ...fresh.filter((p) => p.status === 204).map((p) => p.key!)];
    const ledger = await readPgLedger(cluster.url(db));
    const broken = brokenPromises([...first, ...second]);
    const figures = {
      fault: fault.name,
      slowestVoiceMs: slowest([...first, ...second], 'voice'),
      slowestCallbackMs: slowest([...first, ...second], 'callback'),
      slowestReadyzMs: slowest([...first, ...second], 'readyz'),
      brokenPromises: broken.length,
      voiceWritesFailed,
      recoveryMs: recoveredAt ? recoveredAt - removedAt : null,
      retried503AfterRecovery: retried.unavailable,
      acknowledged: acknowledged.length,
      stored: ledger.stored,
      lost: missingOrDoubled(acknowledged, ledger.counts).length,
      exit,
    };
    console.log(`pg fault: ${JSON.stringify(figures)}`);

    expect(broken).toEqual([]);
    expect(aliveWhileFaulty).toBe(true);
    expect(server.output()).toContain('LEDGER WRITE FAILED');
    expect(voiceWritesFailed).toBeGreaterThanOrEqual(5);
    expect(recoveredAt).toBeGreaterThan(0);
    expect(retried.unexpected).toEqual([]);
    expect(retried.acked.size).toBe(refused.length);
    expect(fresh.map((p) => p.status)).toEqual(after.map(() => 204));
    expect(exit).toBe(0);
    expect(missingOrDoubled(acknowledged, ledger.counts)).toEqual([]);
    expect(ledger.stored).toBe(warmUp.length + refused.length + after.length);
  }, 120_000);

  describe('at boot', () => {
    it('with the database unreachable: retries for about 30 s, each attempt logged with host:port and never the password, then exits 1 naming host:port', async () => {
      const port = await closedPort();
      const started = Date.now();
      const { code, stdout, stderr } = await runMain(pgEnv(dir, `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/x`, { LOG_LEVEL: 'info' }));
      const elapsed = Date.now() - started;
      const output = stdout + stderr;
      const naming = output.split('\n').filter((line) => line.includes(`127.0.0.1:${port}`));
      const lastLine = output.trim().split('\n').at(-1) ?? '';
      console.log(`pg boot unreachable: ${JSON.stringify({ exit: code, elapsedMs: elapsed, linesNamingHostPort: naming.length, passwordShown: output.includes(PASSWORD) })}`);
      expect(code).toBe(1);
      expect(output).not.toContain(PASSWORD);
      expect(elapsed).toBeGreaterThanOrEqual(25_000);
      expect(elapsed).toBeLessThanOrEqual(35_000);
      // Several attempts, each its own line, and the last words name where it could not connect.
      expect(naming.length).toBeGreaterThanOrEqual(3);
      expect(lastLine).toContain(`127.0.0.1:${port}`);
    }, 45_000);

    it('with a database that comes up during the retries: listens once it answers, without the password in the output', async () => {
      const port = await closedPort();
      const db = newDatabase();
      const booting = startServerProcess(pgEnv(dir, `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${db}`), 40_000);
      await sleep(4_000);
      // The database's address starts answering: a proxy on that port in front of the cluster.
      proxy = await startTcpProxy({ host: '127.0.0.1', port: cluster.port }, { listenPort: port });
      const cameUpAt = Date.now();
      server = await booting;
      const listeningAfterMs = Date.now() - cameUpAt;
      const ready = await readyzProbe(server.url);
      console.log(`pg boot late database: ${JSON.stringify({ listeningAfterMs, readyz: ready.status })}`);
      expect(ready.status).toBe(200);
      expect(server.output()).toContain(`127.0.0.1:${port}`);
      expect(server.output()).not.toContain(PASSWORD);
    }, 60_000);
  });

  describe('siprec-control check-config with DATABASE_URL', () => {
    it('shows the URL with the password masked and says the database answers', async () => {
      const db = newDatabase();
      const { code, stdout, stderr } = await runCli(['check-config'], pgEnv(dir, `postgres://postgres:${PASSWORD}@127.0.0.1:${cluster.port}/${db}`), dir.dir);
      expect(stdout + stderr).not.toContain(PASSWORD);
      const shown = new RegExp(`database: +PostgreSQL postgres://postgres:(\\S+)@127\\.0\\.0\\.1:${cluster.port}/${db}`).exec(stdout);
      expect(shown?.[1]).toBeDefined();
      expect(stdout).toMatch(/database check: +ok/);
      expect(code).toBe(0);
    }, 40_000);

    it('with the database unreachable: exits 1 naming host:port, the password masked', async () => {
      const port = await closedPort();
      const started = Date.now();
      const { code, stdout, stderr } = await runCli(['check-config'], pgEnv(dir, `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/x`), dir.dir);
      console.log(`pg check-config unreachable: ${JSON.stringify({ exit: code, elapsedMs: Date.now() - started })}`);
      expect(stdout + stderr).not.toContain(PASSWORD);
      expect(stdout).toMatch(new RegExp(`database: +PostgreSQL postgres://postgres:\\S+@127\\.0\\.0\\.1:${port}/x`));
      expect(stderr).toContain(`127.0.0.1:${port}`);
      expect(stdout).not.toMatch(/database check: +ok/);
      expect(code).toBe(1);
    }, 40_000);
  });
});
