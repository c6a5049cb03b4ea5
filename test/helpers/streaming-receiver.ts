import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface StreamingReceiver {
  url: string;
  /** POSTs received. */
  requests: number;
  /** Bytes this receiver handed to its socket (status line, headers and body), over every request. */
  bytesWritten(): number;
  /** True once the sender closed a connection while the body was still being streamed. */
  cutOff: boolean;
  /** True once a body was streamed to its end: the sender read it all. */
  finished: boolean;
  /** Resolves once the sender closed a connection mid-body; rejects after `timeoutMs`. */
  waitForCutOff(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface StreamingOptions {
  /** The status answered at once, before any of the body. */
  status: number;
  /** flood: chunks as fast as the socket takes them; trickle: one byte every `everyMs`. */
  pace: { flood: { capBytes: number } } | { trickle: { everyMs: number; forMs: number } };
}

const CHUNK = Buffer.alloc(64 * 1024, 'x');

/**
 * A receiver on 127.0.0.1 that answers its status line at once and then streams a body: a flood
 * (as a misconfigured proxy serving a file would) or a trickle. Both stop at a bound, so a sender
 * that reads everything ends the stream instead of running the test machine out of memory.
 */
export async function startStreamingReceiver({ status, pace }: StreamingOptions): Promise<StreamingReceiver> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let written = 0;
  const state = { requests: 0, cutOff: false, finished: false };
  const answer = async (res: ServerResponse) => {
    state.requests += 1;
    const socket = res.socket!;
    let closed = false;
    socket.on('close', () => {
      closed = true;
      written += socket.bytesWritten;
      if (!res.writableFinished) state.cutOff = true;
    });
    res.writeHead(status, { 'Content-Type': 'text/plain' });
    res.flushHeaders();
    if ('flood' in pace) {
      for (let sent = 0; sent < pace.flood.capBytes && !closed; sent += CHUNK.length) {
        // Respect backpressure: what counts is what the sender's side of the connection took.
        if (!res.write(CHUNK)) {
          await new Promise<void>((resolve) => {
            const go = () => (res.off('drain', go), socket.off('close', go), resolve());
            res.once('drain', go);
            socket.once('close', go);
          });
        }
      }
    } else {
      const until = Date.now() + pace.trickle.forMs;
      while (!closed && Date.now() < until) {
        res.write('x');
        await new Promise<void>((r) => {
          const t = setTimeout(() => (timers.delete(t), r()), pace.trickle.everyMs);
          timers.add(t);
        });
      }
    }
    if (!closed) res.end(() => (state.finished = true));
  };
  const server = createServer((req, res) => {
    req.resume();
    // A write that fails means the sender has gone: end the connection rather than leave a rejection unhandled.
    req.on('end', () => void answer(res).catch(() => res.destroy()));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks/alerts`,
    get requests() {
      return state.requests;
    },
    get cutOff() {
      return state.cutOff;
    },
    get finished() {
      return state.finished;
    },
    bytesWritten: () => written + [...sockets].reduce((n, s) => n + s.bytesWritten, 0),
    waitForCutOff: async (timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!state.cutOff) {
        if (Date.now() > deadline) throw new Error(`streaming receiver: the sender did not close the connection within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
