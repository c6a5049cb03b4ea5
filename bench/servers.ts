import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { DEFAULT_TEST_ROUTES, testEnv, type TempDir } from '../test/helpers/env';
import { onAbort } from './cleanup';

/** The repository root (this file runs from dist-bench/bench/). */
export const ROOT = path.resolve(__dirname, '..', '..');
export const SIPREC_MAIN = path.join(ROOT, 'dist', 'main.js');
const BASELINE_MAIN = path.join(__dirname, 'baseline-server.js');

/**
 * warn, not info: production logs one info line per request, but what is compared here is the
 * request pipeline, and a log line piped back to this process would charge the load generator's
 * core too. warn rather than silent keeps every refusal, ledger failure and 503 visible in the
 * output tail printed when a run goes wrong; on the happy path warn and silent cost the same.
 */
export const SIPREC_LOG_LEVEL = 'warn';

/**
 * What a scenario drives: the baseline, siprec-control on SQLite (as production runs by default),
 * and with `--store postgres` siprec-control on PostgreSQL, one instance or two on one database.
 */
export type ServerKind = 'baseline' | 'siprec-control' | 'siprec-control pg' | 'siprec-control pg ×2';

export interface ServerHandle {
  kind: ServerKind;
  /** The first (or only) process. */
  pid: number;
  url: string;
  /** Every process of the subject (two instances: both), load split across their URLs. */
  pids: number[];
  urls: string[];
  /** The PostgreSQL cluster the subject writes to: its CPU is counted with the subject's. */
  postmaster?: number;
  /** The last few kilobytes the process wrote, for diagnosing a failed run. */
  output(): string;
  /** SIGTERM, then the exit code (a --cpu-prof profile is written on this clean exit). */
  stop(): Promise<number | string>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/healthz`, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
  });
}

async function launch(kind: ServerKind, args: string[], env: Record<string, string>, cwd: string, port: number): Promise<ServerHandle> {
  const child: ChildProcess = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const forget = onAbort(() => child.kill('SIGKILL'));
  child.on('exit', forget);
  let tail = '';
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-8192));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exitCode: number | string | undefined;
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve((exitCode = code ?? signal ?? -1))),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  while (!(await healthy(url))) {
    if (exitCode !== undefined) throw new Error(`${kind} exited with ${exitCode} before it answered:\n${tail}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${kind} did not answer /healthz within 20 s:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    kind,
    pid: child.pid!,
    url,
    pids: [child.pid!],
    urls: [url],
    output: () => tail,
    stop: async () => {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export async function startBaseline(): Promise<ServerHandle> {
  const port = await freePort();
  return launch('baseline', [BASELINE_MAIN], { PATH: process.env.PATH ?? '', PORT: String(port) }, ROOT, port);
}

export interface SiprecOptions {
  dir: TempDir;
  /** The SQLite ledger; ignored when databaseUrl is given. */
  databasePath?: string;
  /** A PostgreSQL database (DATABASE_URL) instead of SQLite. */
  databaseUrl?: string;
  kind?: ServerKind;
  /** e.g. --cpu-prof flags. */
  nodeArgs?: string[];
}

/** The built siprec-control (dist/main.js) exactly as production runs it, on a database of ours. */
export async function startSiprec({ dir, databasePath, databaseUrl, kind = 'siprec-control', nodeArgs = [] }: SiprecOptions): Promise<ServerHandle> {
  if (!existsSync(SIPREC_MAIN)) throw new Error(`${SIPREC_MAIN} is missing: run npm run build first`);
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? '',
    ...testEnv(dir, DEFAULT_TEST_ROUTES, {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_PATH: databasePath ?? dir.file('ledger.sqlite'),
      LOG_LEVEL: SIPREC_LOG_LEVEL,
      // Nothing here calls Twilio's REST API; should anything try, it reaches a closed local port.
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9',
    }),
  };
  if (databaseUrl) {
    delete (env as Record<string, string>).DATABASE_PATH;
    (env as Record<string, string>).DATABASE_URL = databaseUrl;
  }
  // cwd is the temp dir so that a developer's .env in the checkout is never loaded.
  return launch(kind, [...nodeArgs, SIPREC_MAIN], env, dir.dir, port);
}

/** Several instances as one subject: load is split across them, their CPU and the cluster's summed. */
export function group(kind: ServerKind, members: ServerHandle[], postmaster?: number): ServerHandle {
  return {
    kind,
    pid: members[0]!.pid,
    url: members[0]!.url,
    pids: members.flatMap((m) => m.pids),
    urls: members.flatMap((m) => m.urls),
    ...(postmaster ? { postmaster } : {}),
    output: () => members.map((m, i) => `--- instance ${i + 1} ---\n${m.output()}`).join('\n'),
    stop: async () => {
      const codes = await Promise.all(members.map((m) => m.stop()));
      return codes.find((c) => c !== 0) ?? 0;
    },
  };
}
