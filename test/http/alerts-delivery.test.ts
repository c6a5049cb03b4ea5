import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { describeEachBackend } from '../helpers/backends';
import { startAlertHarness, type AlertHarness } from '../helpers/alert-harness';
import { startAlertReceiver, type AlertReceiver } from '../helpers/alert-receiver';
import { tempDir, type TempDir } from '../helpers/env';
import { startStreamingReceiver, type StreamingReceiver } from '../helpers/streaming-receiver';

/** Ports that fetch (and browsers) refuse to connect to; a webhook may well listen on one. */
const FETCH_BLOCKED_PORTS = [10080, 6000, 5060, 6666, 6667, 4190, 3659];
/** What the kernel's socket buffers can take on loopback before the sender reads a byte. */
const SOCKET_BUFFERS = 16 * 1024 * 1024;

const listen = (server: Server) =>
  new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(String((server.address() as AddressInfo).port))));
const close = (server: Server) => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())));

/** A receiver below HTTP: once a request's headers are in, `answer` writes raw bytes to its socket. */
async function rawReceiver(answer: (socket: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket)).on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      answer(socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
}

describeEachBackend('alert delivery: what the receiver answers', (backend) => {
  let h: AlertHarness;
  let streaming: StreamingReceiver | undefined;
  afterEach(async () => {
    await h.close();
    await streaming?.close();
    streaming = undefined;
  });

  const raiseOne = async () => h.postError(await h.answeredCall(), 'gridspace');
  const onlyAlert = async () => {
    const alerts = await h.alertsApi();
    expect(alerts).toHaveLength(1);
    return alerts[0]!;
  };

  it('records a 200 as delivered from its status line and drops the connection while the body floods in', async () => {
    streaming = await startStreamingReceiver({ status: 200, pace: { flood: { capBytes: 4 * SOCKET_BUFFERS } } });
    h = await startAlertHarness({ backend, env: { ALERT_WEBHOOK_URL: streaming.url }, dispatcher: { timeoutMs: 2_000 } });
    await raiseOne();

    await h.dispatch();
    expect(await onlyAlert()).toMatchObject({ state: 'delivered', attempts: 1, lastError: null });
    await streaming.waitForCutOff();
    expect(streaming.finished).toBe(false);
    // The sender read a few KB at most; the rest is what the kernel buffered before the close.
    expect(streaming.bytesWritten()).toBeLessThan(SOCKET_BUFFERS);
  });

  it('reads only the start of a failing receiver’s flooded body into lastError', async () => {
    streaming = await startStreamingReceiver({ status: 500, pace: { flood: { capBytes: 4 * SOCKET_BUFFERS } } });
    h = await startAlertHarness({ backend, env: { ALERT_WEBHOOK_URL: streaming.url }, dispatcher: { timeoutMs: 2_000 } });
    await raiseOne();

    await h.dispatch();
    expect(await onlyAlert()).toMatchObject({ state: 'retrying', attempts: 1, lastError: `receiver answered 500: ${'x'.repeat(200)}` });
    await streaming.waitForCutOff();
    expect(streaming.finished).toBe(false);
    expect(streaming.bytesWritten()).toBeLessThan(SOCKET_BUFFERS);
  });

  it('records a 200 whose body trickles in for longer than the timeout as delivered, and sends it once', async () => {
    streaming = await startStreamingReceiver({ status: 200, pace: { trickle: { everyMs: 50, forMs: 3_000 } } });
    h = await startAlertHarness({ backend, env: { ALERT_WEBHOOK_URL: streaming.url }, dispatcher: { timeoutMs: 500 } });
    await raiseOne();

    await h.dispatch();
    expect(await onlyAlert()).toMatchObject({ state: 'delivered', attempts: 1, lastError: null });
    expect(h.logs.filter((l) => /no answer/.test(JSON.stringify(l.lastError ?? '')))).toEqual([]);
    await streaming.waitForCutOff();
    expect(streaming.finished).toBe(false);

    h.clock.advance(3_600_000);
    await h.dispatch();
    expect(streaming.requests).toBe(1);
  });

  it('still fails an attempt whose status line does not come within the timeout', async () => {
    h = await startAlertHarness({ backend, dispatcher: { timeoutMs: 300 } });
    h.receiver.failNext(0);
    await raiseOne();
    const started = Date.now();
    await h.dispatch();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await onlyAlert()).toMatchObject({ state: 'retrying', attempts: 1, lastError: 'no answer within 300 ms' });
  });

  it('keeps a 2xx delivered when the connection is reset after the status line', async () => {
    const raw = await rawReceiver((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nok');
      setTimeout(() => socket.resetAndDestroy(), 20);
    });
    try {
      h = await startAlertHarness({ backend, env: { ALERT_WEBHOOK_URL: raw.url } });
      await raiseOne();
      await h.dispatch();
      expect(await onlyAlert()).toMatchObject({ state: 'delivered', attempts: 1, lastError: null });
    } finally {
      await raw.close();
    }
  });

  it('fails an attempt answered 101 (an upgrade is no delivery) at once, quoting the status', async () => {
    const raw = await rawReceiver((socket) => socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
    try {
      h = await startAlertHarness({ backend, env: { ALERT_WEBHOOK_URL: raw.url }, dispatcher: { timeoutMs: 10_000 } });
      await raiseOne();
      const started = performance.now();
      await h.dispatch();
      expect(await onlyAlert()).toMatchObject({ state: 'retrying', attempts: 1, lastError: 'receiver answered 101' });
      expect(performance.now() - started).toBeLessThan(5_000); // the answer decided, not the timeout
    } finally {
      await raw.close();
    }
  });

  it('delivers to a receiver on a port that fetch refuses as "bad port" (10080, 6000, 5060 …)', async () => {
    const blocked: AlertReceiver = await startAlertReceiver({ ports: FETCH_BLOCKED_PORTS });
    try {
      expect(FETCH_BLOCKED_PORTS.map(String)).toContain(new URL(blocked.url).port);
      h = await startAlertHarness({ backend, env: { ALERT_WEBHOOK_URL: blocked.url } });
      await raiseOne();
      await h.dispatch();
      expect(await onlyAlert()).toMatchObject({ state: 'delivered', attempts: 1, lastError: null });
      expect(blocked.accepted().map((r) => r.json.kind)).toEqual(['siprec-error']);
    } finally {
      await blocked.close();
    }
  });

  it('does not follow a redirect: the signed POST never reaches the Location', async () => {
    const elsewhere = await startAlertReceiver();
    const redirecting = createServer((req, res) => void req.resume().on('end', () => res.writeHead(307, { Location: elsewhere.url }).end('moved')));
    try {
      h = await startAlertHarness({ backend, env: { ALERT_WEBHOOK_URL: `http://127.0.0.1:${await listen(redirecting)}/hook` } });
      await raiseOne();
      await h.dispatch();
      expect(await onlyAlert()).toMatchObject({ state: 'retrying', attempts: 1, lastError: 'receiver answered 307: moved' });
      expect(elsewhere.requests).toEqual([]);
    } finally {
      await close(redirecting);
      await elsewhere.close();
    }
  });

  describe('over https', () => {
    let certs: TempDir;
    beforeAll(() => {
      certs = tempDir('siprec-alert-tls-');
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', certs.file('key.pem'), '-out', certs.file('cert.pem'),
      ], { stdio: 'ignore' });
    });
    afterAll(() => certs.remove());

    it('verifies the certificate: a self-signed receiver is refused before any alert is sent', async () => {
      let reached = 0;
      const tls = createTlsServer({ key: readFileSync(certs.file('key.pem')), cert: readFileSync(certs.file('cert.pem')) }, (_req, res) => {
        reached += 1;
        res.writeHead(200).end();
      });
      try {
        h = await startAlertHarness({ backend, env: { ALERT_WEBHOOK_URL: `https://127.0.0.1:${await listen(tls)}/hook` } });
        await raiseOne();
        await h.dispatch();
        expect(await onlyAlert()).toMatchObject({ state: 'retrying', attempts: 1, lastError: 'could not reach the receiver (DEPTH_ZERO_SELF_SIGNED_CERT)' });
        expect(reached).toBe(0);
      } finally {
        await close(tls);
      }
    });
  });
});
