import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildVoiceForm, sign } from '../helpers/twilio-requests';

/** The figure was 10 s through the forced exit; "within 2 s" with room for a loaded machine. */
const EXIT_WITHIN_MS = 3_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
 * A signed voice webhook whose body is held back: `accepted` resolves once the server has read its
 * headers (it asks for 100 Continue), so the request is in flight on the server from then on.
 */
function heldVoiceWebhook(url: string, publicBaseUrl: string) {
  const form = buildVoiceForm();
  const body = new URLSearchParams(form).toString();
  const req = http.request(`${url}/twilio/voice`, {
    method: 'POST',
    agent: false,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(body),
      'x-twilio-signature': sign(`${publicBaseUrl}/twilio/voice`, form),
      expect: '100-continue',
    },
  });
  const accepted = new Promise<void>((resolve) => req.once('continue', resolve));
  const response = new Promise<{ status: number; text: string; at: number }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, at: Date.now() }));
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  return { accepted, finish: () => req.end(body), response, abort: () => req.destroy() };
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

  /** An idle connection, half a request's headers, and a keep-alive connection that has served one request. */
  async function idleAndHalfOpen(url: string) {
    const idle = await openRaw(url);
    const half = await openRaw(url, 'POST /twilio/voice HTTP/1.1\r\nHost: calls.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n');
    sockets.push(idle.socket, half.socket);
    agent = new http.Agent({ keepAlive: true });
    const health = await new Promise<number>((resolve, reject) =>
      http.get(`${url}/healthz`, { agent }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject),
    );
    expect(health).toBe(200);
    return [idle.closed, half.closed];
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
    const env = testEnv(dir);
    server = await startServerProcess(env);
    const closed = await idleAndHalfOpen(server.url);
    const held = heldVoiceWebhook(server.url, env.PUBLIC_BASE_URL!);
    try {
      await held.accepted;
      server.child.kill('SIGTERM');
      // The idle and half-open connections go now, while the request in flight is still waiting for its body.
      await Promise.all(closed);
      await sleep(300);
      held.finish();
      const res = await held.response;
      expect(res.status).toBe(200);
      expect(res.text).toContain('<Siprec');
      await server.exited;
      expect(Date.now() - res.at).toBeLessThan(EXIT_WITHIN_MS);
      await expectCleanExit(server, env.DATABASE_PATH!);
    } finally {
      held.abort();
    }
  }, 30_000);
});
