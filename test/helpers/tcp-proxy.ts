import net, { type AddressInfo } from 'node:net';

/**
 * A real TCP proxy on 127.0.0.1 in front of a database, so that a test can make the database hang
 * the way a frozen host or a black-holed network does: connections are still accepted, but not one
 * byte goes through in either direction, and nothing is closed. The bytes are held, not dropped, so
 * that `resume()` lets the conversation go on where it stopped, as a network that comes back does.
 */
export interface TcpProxy {
  readonly port: number;
  /** Stops forwarding: new connections are accepted and left unanswered; open ones go silent. */
  hang(): void;
  /** Forwards again, starting with every byte held while hung. */
  resume(): void;
  hung(): boolean;
  /** Client connections open right now. */
  connections(): number;
  /** Bytes held right now, both directions together. */
  heldBytes(): number;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  upstream: net.Socket | null;
  connected: boolean;
  toUpstream: Buffer[];
  toClient: Buffer[];
  /** The database closed its side while hung: the client is told only on resume. */
  upstreamEnded: boolean;
}

export async function startTcpProxy(target: { host: string; port: number }, options: { listenPort?: number } = {}): Promise<TcpProxy> {
  const links = new Set<Link>();
  let forwarding = true;

  const drop = (link: Link) => {
    links.delete(link);
    link.client.destroy();
    link.upstream?.destroy();
  };

  const flush = (link: Link) => {
    if (!forwarding) return;
    if (!link.upstream) return void connectUpstream(link);
    if (!link.connected) return;
    for (const chunk of link.toUpstream.splice(0)) link.upstream.write(chunk);
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
    if (link.upstreamEnded) link.client.end();
  };

  const connectUpstream = (link: Link) => {
    const upstream = net.connect(target.port, target.host);
    link.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('connect', () => {
      link.connected = true;
      flush(link);
    });
    upstream.on('data', (chunk) => {
      if (forwarding) link.client.write(chunk);
      else link.toClient.push(chunk);
    });
    upstream.on('end', () => {
      if (forwarding) link.client.end();
      else link.upstreamEnded = true;
    });
    // Nothing listening behind, or the database reset the connection: the client sees it close.
    upstream.on('error', () => (forwarding ? drop(link) : (link.upstreamEnded = true)));
    upstream.on('close', () => forwarding && drop(link));
  };

  const server = net.createServer((client) => {
    const link: Link = { client, upstream: null, connected: false, toUpstream: [], toClient: [], upstreamEnded: false };
    links.add(link);
    client.setNoDelay(true);
    client.on('data', (chunk) => {
      if (forwarding && link.connected) link.upstream!.write(chunk);
      else link.toUpstream.push(chunk);
    });
    // A client that gives up on a hung database closes its side: nothing is left open behind it.
    client.on('error', () => drop(link));
    client.on('close', () => drop(link));
    if (forwarding) connectUpstream(link);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    hang: () => {
      forwarding = false;
    },
    resume: () => {
      forwarding = true;
      for (const link of [...links]) flush(link);
    },
    hung: () => !forwarding,
    connections: () => links.size,
    heldBytes: () => [...links].reduce((n, l) => n + [...l.toUpstream, ...l.toClient].reduce((m, b) => m + b.length, 0), 0),
    close: async () => {
      for (const link of [...links]) drop(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
