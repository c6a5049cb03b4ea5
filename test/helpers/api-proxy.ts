import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does with one request: pass it on, hold it open without a byte of answer (a hung
 * API), answer with this status itself, or drop the connection (nothing listening behind).
 */
export type ProxyAnswer = 'forward' | 'hang' | 'drop' | number;

export interface ApiProxy {
  url: string;
  /** Decides per request; replaced by tests, reset to "forward everything" by `reset()`. */
  rule: (req: { method: string; path: string }) => ProxyAnswer;
  /** Every request seen, in order: `GET /api/sessions?limit=50`. */
  readonly seen: string[];
  /** Requests held open right now. */
  held(): number;
  reset(): void;
  /** Ends every held request and connection, then stops listening. */
  close(): Promise<void>;
}

/**
 * A real node:http proxy on 127.0.0.1 in front of `target`, so a browser test can make the API
 * hang, refuse or vanish while the app behind it stays as it is.
 */
export async function startApiProxy(target: string): Promise<ApiProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  const heldResponses = new Set<http.ServerResponse>();
  const seen: string[] = [];
  const forwardAll: ApiProxy['rule'] = () => 'forward';

  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push(`${req.method} ${path}`);
    const answer = proxy.rule({ method: req.method ?? 'GET', path });
    if (answer === 'hang') {
      heldResponses.add(res);
      // The browser gives up (its deadline) by closing the connection.
      res.on('close', () => heldResponses.delete(res));
      return;
    }
    if (answer === 'drop') return void req.socket.destroy();
    if (typeof answer === 'number') {
      res.writeHead(answer, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `proxy answered ${answer}` }));
      return;
    }
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path, headers: req.headers },
      (answerRes) => {
        res.writeHead(answerRes.statusCode ?? 502, answerRes.headers);
        answerRes.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const proxy: ApiProxy = {
    url: `http://127.0.0.1:${port}`,
    rule: forwardAll,
    seen,
    held: () => heldResponses.size,
    reset() {
      proxy.rule = forwardAll;
      seen.length = 0;
    },
    async close() {
      for (const res of heldResponses) res.destroy();
      heldResponses.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
