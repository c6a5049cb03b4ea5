import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedAlert {
  headers: IncomingHttpHeaders;
  /** The body exactly as it arrived, for recomputing the signature. */
  raw: string;
  json: Record<string, unknown>;
  /** The status this receiver answered with; 0 when it never answered. */
  answered: number;
  /** When the request had fully arrived, by Date.now(): the fake clock when a test fakes timers. */
  arrivedAt: number;
}

export interface AlertReceiver {
  url: string;
  /** Every POST, answered or failed on purpose, in arrival order. */
  requests: ReceivedAlert[];
  /** The alerts answered 2xx: what the receiver actually accepted. */
  accepted(): ReceivedAlert[];
  /** The next requests are answered with these statuses, in order (0: never answer); after them, as usual. */
  failNext(...statuses: number[]): void;
  /** Every request is answered with this status until changed (200 restores normal service). */
  answerAlways(status: number): void;
  /** From now on each request waits, unanswered, until `release` answers the oldest waiting one. */
  holdAnswers(): void;
  release(status: number): void;
  /** Resolves once `count` alerts were accepted; rejects after `timeoutMs`. */
  waitForAccepted(count: number, timeoutMs?: number): Promise<ReceivedAlert[]>;
  close(): Promise<void>;
}

const STALL = 0;

/** Binds the first of `ports` that is free (0: any); fails when none is. */
async function listenOnFirstFree(server: Server, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    const bound = await new Promise<boolean>((resolve) => {
      const onError = () => resolve(false);
      server.once('error', onError);
      server.listen(port, '127.0.0.1', () => (server.off('error', onError), resolve(true)));
    });
    if (bound) return;
  }
  throw new Error(`alert receiver: none of the ports ${ports.join(', ')} is free on 127.0.0.1`);
}

/**
 * A real webhook receiver on 127.0.0.1 that records what it gets and can fail on purpose. `ports`:
 * the ports to try in order, for a receiver on a particular one; any free port by default.
 */
export async function startAlertReceiver(options: { ports?: readonly number[] } = {}): Promise<AlertReceiver> {
  const requests: ReceivedAlert[] = [];
  const queued: number[] = [];
  let always = 200;
  let holding = false;
  const held: Array<{ alert: ReceivedAlert; answer: (status: number) => void }> = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const answered = queued.shift() ?? always;
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // Recorded as received; the test's assertions on fields will fail loudly.
      }
      const alert: ReceivedAlert = { headers: req.headers, raw, json, answered: holding ? STALL : answered, arrivedAt: Date.now() };
      requests.push(alert);
      const answer = (status: number) => void res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status < 300 ? 'ok' : 'failing on purpose');
      if (holding) return void held.push({ alert, answer });
      if (answered === STALL) return; // the sender's timeout must end it
      answer(answered);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await listenOnFirstFree(server, options.ports ?? [0]);
  const { port } = server.address() as AddressInfo;
  const accepted = () => requests.filter((r) => r.answered >= 200 && r.answered < 300);

  return {
    url: `http://127.0.0.1:${port}/hooks/alerts`,
    requests,
    accepted,
    failNext: (...statuses) => void queued.push(...statuses),
    answerAlways: (status) => void (always = status),
    holdAnswers: () => void (holding = true),
    release: (status) => {
      const next = held.shift();
      if (!next) throw new Error('alert receiver: no request is waiting for an answer');
      next.alert.answered = status;
      next.answer(status);
    },
    waitForAccepted: async (count, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (accepted().length < count) {
        if (Date.now() > deadline) throw new Error(`alert receiver: ${accepted().length} of ${count} alerts accepted after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return accepted();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
