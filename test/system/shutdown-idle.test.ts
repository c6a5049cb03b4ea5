import { existsSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { startFakeTwilio, type FakeTwilio } from '../../src/dev/fake-twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, tempDir, testEnv, type TempDir } from '../helpers/env';
import { BEARER } from '../helpers/operator-api';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { newCallSid } from '../helpers/twilio-requests';

/** The figure was 10 s through the forced exit; "within 2 s" with room for a loaded machine. */
const EXIT_WITHIN_MS = 3_000;

/** A raw TCP connection to the server that records when the server closed it. */
async function openRaw(url: string, send?: string): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.on('error', () => undefined);
  socket.resume();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  if (send) socket.write(send);
  return { socket, closed };
}

/**
 * Twilio's API slowed down at will: holds every request until `release()`, then passes it to the fake.
 * A stop waiting on it is a request whose bytes are all in and whose handler is still working.
 */
async function heldTwilio(fake: FakeTwilio) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let received!: () => void;
  const asked = new Promise<void>((resolve) => (received = resolve));
  const server = http.createServer((req, res) => {
    received();
    void released.then(() => {
      const upstream = http.request(`${fake.url}${req.url}`, { method: req.method, headers: req.headers, agent: false }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    asked,
    release,
    close: () =>
      new Promise<void>((resolve) => {
        release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A stop through the operator API; resolves with its status, body and when it arrived. */
function stop(url: string, callSid: string) {
  return new Promise<{ status: number; text: string; at: number }>((resolve, reject) => {
    const req = http.request(`${url}/api/calls/${callSid}/siprec/rec1/stop`, { method: 'POST', agent: false, headers: { authorization: BEARER } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, at: Date.now() }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('SIGTERM with idle and half-open connections', () => {
  let dir: TempDir;
  let server: ServerProcess | undefined;
  const sockets: net.Socket[] = [];
  let agent: http.Agent | undefined;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
    agent?.destroy();
    server?.child.kill('SIGKILL');
    server = undefined;
    dir.remove();
  });

  /**
   * An idle connection, half a request's headers, whole headers with half a body, and a keep-alive
   * connection that has served one request.
   */
  async function idleAndHalfOpen(url: string) {
    const idle = await openRaw(url);
    const half = await openRaw(url, 'POST /twilio/voice HTTP/1.1\r\nHost: calls.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n');
    const halfBody = await openRaw(url, 'POST /twilio/voice HTTP/1.1\r\nHost: calls.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nCallSid=CA');
    sockets.push(idle.socket, half.socket, halfBody.socket);
    agent = new http.Agent({ keepAlive: true });
    const health = await new Promise<number>((resolve, reject) =>
      http.get(`${url}/healthz`, { agent }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject),
    );
    expect(health).toBe(200);
    return [idle.closed, half.closed, halfBody.closed];
  }

  async function expectCleanExit(s: ServerProcess, file: string) {
    expect(await s.exited).toBe(0);
    expect(s.output()).toContain('database closed');
    expect(s.output()).not.toContain('did not finish');
    expect([existsSync(`${file}-wal`), existsSync(`${file}-shm`)]).toEqual([false, false]);
  }

  it('closes them at once and exits 0 with the database closed', async () => {
    const env = testEnv(dir);
    server = await startServerProcess(env);
    const closed = await idleAndHalfOpen(server.url);
    const signalledAt = Date.now();
    server.child.kill('SIGTERM');
    await Promise.all(closed);
    await server.exited;
    expect(Date.now() - signalledAt).toBeLessThan(EXIT_WITHIN_MS);
    await expectCleanExit(server, env.DATABASE_PATH!);
  }, 30_000);

  it('still finishes a request in flight, then exits 0 within 2 s of answering it', async () => {
    const fake = await startFakeTwilio({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    const twilio = await heldTwilio(fake);
    try {
      const env = testEnv(dir, undefined, { TWILIO_API_BASE_URL: twilio.url });
      server = await startServerProcess(env);
      const callSid = newCallSid();
      fake.calls.add(callSid);
      fake.addSiprec(callSid, 'rec1');
      const closed = await idleAndHalfOpen(server.url);
      const stopped = stop(server.url, callSid);
      // Bounded: a stop that answers without asking Twilio fails the test now, not at jest's timeout.
      await Promise.race([twilio.asked, stopped.then((r) => Promise.reject(new Error(`the stop answered ${r.status} without asking Twilio: ${r.text}`)))]);
      server.child.kill('SIGTERM');
      // The others go now, while the stop is still waiting on Twilio.
      await Promise.all(closed);
      twilio.release();
      const res = await stopped;
      expect([res.status, res.text]).toEqual([202, expect.stringContaining('"stopRequestedAt"')]);
      await server.exited;
      expect(Date.now() - res.at).toBeLessThan(EXIT_WITHIN_MS);
      await expectCleanExit(server, env.DATABASE_PATH!);
    } finally {
      await twilio.close();
      await fake.close();
    }
  }, 30_000);
});
