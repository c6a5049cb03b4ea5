import { startPgCluster, type PgCluster } from '../../src/dev/pg-cluster';
import { buildSignedCallbacks, missingOrDoubled, sendCallbacks } from '../helpers/callback-load';
import { tempDir, type TempDir } from '../helpers/env';
import { describeWithPostgres } from '../helpers/pg';
import { alive, percentile, pgServerEnv, readPgLedger, restartClusterInBackground, serverFleet, sleep } from '../helpers/pg-system';
import { postCallback, postVoice, readyz } from '../helpers/webhook-client';

const SESSIONS = 350; // 700 callbacks
const CLIENTS = 8;
const VOICE_CLIENTS = 3;
const VOICE_DEADLINE_MS = 2_000;
const RECOVERY_WITHIN_MS = 15_000;

interface Sample {
  start: number;
  end: number;
  status: number;
  ok: boolean;
}

describeWithPostgres('pg_ctl restart -m immediate while callbacks and calls pour in', () => {
  let dir: TempDir;
  let cluster: PgCluster | undefined;
  const fleet = serverFleet();
  // Its own cluster: the restart would cut every other suite's connections in the shared one.
  beforeAll(async () => {
    dir = tempDir();
    cluster = await startPgCluster();
    cluster.createDatabase('siprec');
  });
  afterAll(async () => {
    await fleet.killAll();
    cluster?.destroy();
    dir.remove();
  });

  it('loses nothing acknowledged, answers every call within 2 s, and recovers without a restart', async () => {
    const env = pgServerEnv(dir, cluster!.url('siprec'));
    const server = await fleet.start(env);
    const pid = server.child.pid;
    const callbacks = buildSignedCallbacks(SESSIONS);
    const voice: Sample[] = [];
    const ready: Sample[] = [];
    const acks: number[] = [];
    let stop = false;
    let restart: Promise<{ ms: number }> | undefined;
    let downAt = 0;
    let backAt = 0;
    let inFlightAtRestart = 0;
    const deadline = Date.now() + 45_000;

    const voiceLoad = Array.from({ length: VOICE_CLIENTS }, async () => {
      while (!stop && alive(server) && Date.now() < deadline) {
        const start = Date.now();
        const r = await postVoice(server.url).catch(() => ({ status: 0, text: '', ms: Date.now() - start }));
        voice.push({ start, end: Date.now(), status: r.status, ok: r.status === 200 && r.text.includes('<Siprec') && r.ms < VOICE_DEADLINE_MS });
      }
    });
    const readinessProbe = (async () => {
      while (!stop && alive(server) && Date.now() < deadline) {
        const start = Date.now();
        const status = await readyz(server.url).catch(() => 0);
        ready.push({ start, end: Date.now(), status, ok: status === 200 });
        await sleep(100);
      }
    })();

    const result = await sendCallbacks(callbacks, {
      clients: CLIENTS,
      // A dead server is no target: its clients wait (to the deadline) instead of hammering a closed port.
      target: () => (alive(server) ? server.url : null),
      deadlineMs: 40_000,
      onAck: (f) => {
        acks.push(Date.now());
        if (!restart && f.acknowledged >= callbacks.length * 0.3) {
          inFlightAtRestart = f.inFlight;
          downAt = Date.now();
          restart = restartClusterInBackground(cluster!, 'immediate').then((r) => ((backAt = Date.now()), r));
        }
      },
    });
    const restarted = await restart!;
    // A little traffic after the load, so that "answered again" is seen even if the load ended early.
    await sleep(500);
    stop = true;
    await Promise.all([...voiceLoad, readinessProbe]);
    const fresh = buildSignedCallbacks(1)[0]!;
    const afterwards = {
      callback: await postCallback(server.url, fresh).then((r) => r.status, () => 0),
      readyz: await readyz(server.url).catch(() => 0),
      voice: await postVoice(server.url).then((r) => r.status, () => 0),
    };
    const stillSameProcess = alive(server) && server.child.pid === pid;
    // A crash prints a stack (not a JSON log line): quote it.
    if (!stillSameProcess) console.log(`the server died:\n${server.output().split('\n').filter((l) => !l.startsWith('{')).join('\n')}`);
    server.child.kill('SIGTERM');
    const exit = await server.exited;

    const ledger = await readPgLedger(cluster!.url('siprec'));
    const acked = new Set([...result.acked, ...(afterwards.callback === 204 ? [fresh.key] : [])]);
    const lost = missingOrDoubled(acked, ledger.counts);
    const voiceMs = voice.map((v) => v.end - v.start);
    // Calls whose request overlapped the outage: answered while the database was away.
    const duringOutage = voice.filter((v) => v.end >= downAt && v.start <= backAt);
    const firstAckBack = acks.find((t) => t >= backAt);
    const firstReadyBack = ready.find((r) => r.ok && r.start >= backAt);
    const figures = {
      sent: result.sent,
      acknowledged: acked.size,
      stored: ledger.stored,
      lost: lost.length,
      inFlightAtRestart,
      restartMs: restarted.ms,
      answered503: result.unavailable,
      droppedConnections: result.connectionFailures,
      voiceCalls: voice.length,
      voiceDuringOutage: duringOutage.length,
      voiceNotAnsweredInTime: voice.filter((v) => !v.ok).length,
      voiceP99Ms: Math.round(percentile(voiceMs, 99)),
      voiceMaxMs: Math.max(...voiceMs),
      readyz503: ready.filter((r) => r.status === 503).length,
      readyzOther: ready.filter((r) => r.status !== 503 && r.status !== 200).length,
      callbacksRecoveredMs: firstAckBack === undefined ? null : firstAckBack - backAt,
      readyzRecoveredMs: firstReadyBack === undefined ? null : firstReadyBack.end - backAt,
      afterwards,
      exit,
    };
    console.log(`postgres restart -m immediate under load: ${JSON.stringify(figures)}`);

    // The service never went away: the same process all along, and no refused connection.
    expect(stillSameProcess).toBe(true);
    expect(result.connectionFailures).toBe(0);
    expect(result.unexpected.slice(0, 10)).toEqual([]);
    expect(inFlightAtRestart).toBeGreaterThan(0);
    expect(result.acked.size).toBe(callbacks.length);
    expect(lost).toEqual([]);
    expect(ledger.stored).toBe(acked.size);
    // The one callback sent afterwards is a started one: its session is active. (The calls' own
    // sessions stay requested: no callback of theirs is sent.)
    const { requested: _voiceSessions, ...callbackSessions } = ledger.sessionStates;
    expect(callbackSessions).toEqual({ stopped: SESSIONS, ...(afterwards.callback === 204 ? { active: 1 } : {}) });
    // The call comes first: every voice webhook got its TwiML, within 2 s, the outage included.
    expect(duringOutage.length).toBeGreaterThan(0);
    expect(voice.filter((v) => !v.ok).map((v) => `${v.status} in ${v.end - v.start} ms`)).toEqual([]);
    // /readyz only ever says ready or not ready.
    expect(figures.readyzOther).toBe(0);
    expect(figures.callbacksRecoveredMs).not.toBeNull();
    expect(figures.callbacksRecoveredMs!).toBeLessThan(RECOVERY_WITHIN_MS);
    expect(figures.readyzRecoveredMs).not.toBeNull();
    expect(figures.readyzRecoveredMs!).toBeLessThan(RECOVERY_WITHIN_MS);
    expect(afterwards).toEqual({ callback: 204, readyz: 200, voice: 200 });
    expect(exit).toBe(0);
  }, 90_000);
});
