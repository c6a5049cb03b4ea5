/**
 * A fake of the slice of Twilio's REST API that siprec-control uses (start and stop SIPREC on a call),
 * as a real HTTP server on 127.0.0.1. Tests and `npm run demo` point TWILIO_API_BASE_URL at it; it
 * records every request so a test can assert the exact form fields Twilio would have received.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeTwilioOptions {
  accountSid: string;
  /**
   * Credentials accepted in HTTP Basic; with neither given, any credentials pass. Wrong ones get
   * Twilio's 401 (code 20003). A `restricted` key authenticates but lacks the permission for these
   * endpoints, and gets Twilio's 403, as a Restricted API key without Voice access does.
   */
  authToken?: string;
  apiKey?: { sid: string; secret: string; restricted?: boolean };
  /** Default 0: any free port. */
  port?: number;
  /**
   * true: every well-formed CallSid counts as a live call. For `npm run fake-twilio`, where no call is
   * placed through the fake; tests and the demo list their live calls in `calls`.
   */
  everyCallLive?: boolean;
  /** Told of each request as it is recorded. */
  onRequest?(request: FakeTwilioRequest): void;
}

export interface FakeTwilioRequest {
  method: string;
  path: string;
  form: Record<string, string>;
  authorization: string | null;
}

/** `stall` never answers, to prove the client gives up on a hung Twilio. */
export type FakeTwilioFailure = '400' | '404' | '500' | 'hangup' | 'stall';

export interface FakeSiprec {
  sid: string;
  callSid: string;
  name: string;
  status: 'in-progress' | 'stopped';
  form: Record<string, string>;
}

export interface FakeTwilio {
  url: string;
  requests: FakeTwilioRequest[];
  /** Live CallSids; any other call gets Twilio's 404. */
  calls: Set<string>;
  /** Sessions started through this fake, by SID. */
  siprecs: Map<string, FakeSiprec>;
  /** A session Twilio knows without a REST start, as if `<Start><Siprec>` TwiML had started it. */
  addSiprec(callSid: string, name?: string): FakeSiprec;
  /** The next request (one per call, in order) fails this way, after being recorded. */
  failNext(kind: FakeTwilioFailure): void;
  close(): Promise<void>;
}

const BODY_LIMIT = 256 * 1024;
const START = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls\/([^/]+)\/Siprec\.json$/;
const UPDATE = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls\/([^/]+)\/Siprec\/([^/]+)\.json$/;

function twilioError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
}

const FAILURES: Record<'400' | '404' | '500', [number, number, string]> = {
  '400': [400, 21220, 'Invalid call state: the call is not in progress'],
  '404': [404, 20404, 'The requested resource was not found'],
  '500': [500, 20500, 'An internal server error has occurred'],
};

// Twilio renders resource dates in RFC 2822 with a numeric zone.
const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) return void req.destroy(new Error('body too large'));
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function basicCredentials(header: string | undefined): [string, string] | null {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

export async function startFakeTwilio(options: FakeTwilioOptions): Promise<FakeTwilio> {
  const { accountSid } = options;
  const accepted: Array<[string, string]> = [];
  if (options.authToken) accepted.push([accountSid, options.authToken]);
  if (options.apiKey) accepted.push([options.apiKey.sid, options.apiKey.secret]);

  const requests: FakeTwilioRequest[] = [];
  const calls = new Set<string>();
  const siprecs = new Map<string, FakeSiprec>();
  const failures: FakeTwilioFailure[] = [];
  const sockets = new Set<Socket>();

  const addSiprec = (callSid: string, name?: string, form: Record<string, string> = {}): FakeSiprec => {
    const sid = `SR${randomBytes(16).toString('hex')}`;
    const session: FakeSiprec = { sid, callSid, name: name || sid, status: 'in-progress', form };
    siprecs.set(sid, session);
    return session;
  };

  const resourceBody = (s: FakeSiprec) => ({
    sid: s.sid,
    account_sid: accountSid,
    call_sid: s.callSid,
    name: s.name,
    status: s.status,
    date_updated: rfc2822(new Date()),
    uri: `/2010-04-01/Accounts/${accountSid}/Calls/${s.callSid}/Siprec/${s.sid}.json`,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const body = await readBody(req);
    const form = Object.fromEntries(new URLSearchParams(body));
    const recorded = { method: req.method ?? '', path, form, authorization: req.headers.authorization ?? null };
    requests.push(recorded);
    options.onRequest?.(recorded);

    const failure = failures.shift();
    if (failure === 'stall') return;
    if (failure === 'hangup') return void req.socket.destroy();
    if (failure) return twilioError(res, ...FAILURES[failure]);

    const creds = basicCredentials(req.headers.authorization);
    if (accepted.length > 0 && !accepted.some(([u, p]) => creds?.[0] === u && creds[1] === p)) {
      return twilioError(res, 401, 20003, 'Authenticate');
    }
    if (options.apiKey?.restricted && creds?.[0] === options.apiKey.sid) {
      return twilioError(res, 403, 20003, 'Permission Denied: this API key has no access to this resource');
    }
    const notFound = () => twilioError(res, 404, 20404, `The requested resource ${path} was not found`);
    if (req.method !== 'POST') return notFound();

    const start = START.exec(path);
    const update = UPDATE.exec(path);
    const [account, callSid] = [(start ?? update)?.[1], decodeURIComponent((start ?? update)?.[2] ?? '')];
    const live = options.everyCallLive ? /^CA[0-9a-f]{32}$/.test(callSid) : calls.has(callSid);
    if (account !== accountSid || !live) return notFound();

    if (start) {
      const session = addSiprec(callSid, form.Name, form);
      res.writeHead(201, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify(resourceBody(session)));
    }
    const key = decodeURIComponent(update![3]!);
    const session = [...siprecs.values()].find((s) => s.callSid === callSid && (s.sid === key || s.name === key));
    if (!session) return notFound();
    if (form.Status !== 'stopped') return twilioError(res, 400, 20001, 'Status must be stopped');
    session.status = 'stopped';
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(resourceBody(session)));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) twilioError(res, 500, 20500, 'An internal server error has occurred');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    calls,
    siprecs,
    addSiprec,
    failNext: (kind) => void failures.push(kind),
    close: () =>
      new Promise<void>((resolve) => {
        // Stalled requests and keep-alive sockets would hold close() open forever.
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
