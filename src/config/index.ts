import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { CALLER_NUMBER_MODES, type CallerNumberMode } from '../domain/privacy';
import type { Route } from '../domain/routing';
import { weakTokenProblem } from './admin-token';
import { parseRoutesFile } from './routes';

export interface Config {
  readonly port: number;
  readonly host: string;
  /** No trailing slash: paths are appended to it. */
  readonly publicBaseUrl: string;
  readonly logLevel: string;
  /** Where the ledger lives: an embedded SQLite file (the default), or a shared PostgreSQL. */
  readonly storage: StorageConfig;
  readonly adminToken: string;
  readonly routesFile: string;
  readonly routes: readonly Route[];
  /** What the ledger keeps of caller and called numbers (personal data). */
  readonly storeCallerNumbers: CallerNumberMode;
  /** Calls older than this many days are purged daily; undefined keeps everything. */
  readonly retentionDays?: number;
  /** How long the voice webhook waits for its ledger write before answering the TwiML anyway. */
  readonly voiceLedgerDeadlineMs: number;
  readonly twilio: {
    readonly accountSid: string;
    /** Primary first; a secondary token is accepted too so the token can be rotated without downtime. */
    readonly authTokens: readonly string[];
    readonly apiBaseUrl?: string;
    readonly apiKeySid?: string;
    readonly apiKeySecret?: string;
  };
  readonly http: {
    /** Hard cap on open connections; slow ones are shed before it is reached (src/http/connections.ts). */
    readonly maxConnections: number;
    /** How long an idle keep-alive connection stays open: longer than the proxy's own idle timeout. */
    readonly keepAliveTimeoutSeconds: number;
    /** Express's `trust proxy`: which hops' X-Forwarded-For decide the client's address (rate limiting). */
    readonly trustProxy: TrustProxy;
  };
  readonly alerts: {
    /** Where alerts are POSTed; undefined records them for the status page and sends nothing. */
    readonly webhookUrl?: string;
    /** Signs each alert (HMAC-SHA256) so the receiver can tell it is ours and refuse replays. */
    readonly webhookSecret?: string;
    readonly startTimeoutSeconds: number;
    readonly errorBurstCount: number;
    readonly errorBurstMinutes: number;
  };
}

export type StorageConfig =
  | { readonly kind: 'sqlite'; readonly path: string }
  | {
      readonly kind: 'postgres';
      /** postgres:// or postgresql://, possibly several hosts; carries the password: never log it (redactUrl). */
      readonly url: string;
      readonly poolSize: number;
    };

/** Off, a hop count, or addresses/CIDRs/Express's names (loopback, linklocal, uniquelocal). */
export type TrustProxy = false | number | readonly string[];

/** Thrown with one line per problem; never carries a secret's value. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

// `FOO=` in a .env file means "not set", not "set to the empty string".
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const required = <T extends z.ZodType<unknown, string>>(schema: T, what: string) =>
  z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string({ error: (i) => (i.input === undefined ? `is required (${what})` : 'must be a string') }).pipe(schema),
  );

const baseUrl = z
  .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL such as https://calls.example.com' })
  .refine((v) => {
    const u = URL.parse(v);
    return u === null || (!u.search && !u.hash && !u.username && !u.password);
  }, 'must not carry a query, fragment or credentials')
  .transform((v) => v.replace(/\/+$/, ''));

const wholeNumber = (unit: string, min: number, max: number) =>
  z.coerce
    .number({ error: `must be a whole number of ${unit}` })
    .int(`must be a whole number of ${unit}`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

export const DEFAULT_DATABASE_PATH = './data/siprec-control.sqlite';

// .env.example's values are public: a server must never run with one of them as a secret.
const isPlaceholder = (v: string) => v.startsWith('replace-with-');
const PLACEHOLDER = 'is still the placeholder from .env.example; set a real value';

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
const MAX_PROXY_HOPS = 16;

/** An address or CIDR as proxy-addr (Express's trust proxy) reads it; a netmask form is not accepted. */
function isProxyAddress(item: string): boolean {
  if (PROXY_NAMES.has(item)) return true;
  const [ip, prefix, ...rest] = item.split('/');
  const family = isIP(ip ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

// `true` (trust every hop) is refused: the client would pick its own address, and with it its rate limit.
const trustProxy = z.string().transform((v, ctx): TrustProxy => {
  const value = v.trim();
  if (value === 'false' || value === '0') return false;
  if (value === 'true') {
    ctx.addIssue({ code: 'custom', message: 'true would trust any X-Forwarded-For a client sends; give the number of proxies in front (e.g. 1) or their addresses' });
    return z.NEVER;
  }
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops <= MAX_PROXY_HOPS) return hops;
    ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_PROXY_HOPS} proxies` });
    return z.NEVER;
  }
  const items = value.split(',').map((i) => i.trim());
  const bad = items.find((i) => !isProxyAddress(i));
  if (bad === undefined) return items;
  ctx.addIssue({
    code: 'custom',
    message: `"${bad}" is not a hop count, an IP address, a CIDR (10.0.0.0/8) or one of loopback, linklocal, uniquelocal`,
  });
  return z.NEVER;
});

const envSchema = z.object({
  PORT: optional(z.coerce.number().int().min(0).max(65535, 'must be a port number 0-65535')).default(3000),
  HOST: optional(z.string()).default('0.0.0.0'),
  PUBLIC_BASE_URL: required(baseUrl, 'the https URL through which Twilio reaches this service'),
  LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])).default('info'),
  TWILIO_ACCOUNT_SID: required(z.string().regex(/^AC[0-9a-f]{32}$/, 'must be AC followed by 32 lowercase hex digits'), 'AC followed by 32 hex digits'),
  TWILIO_AUTH_TOKEN: required(z.string().min(1).refine((v) => !isPlaceholder(v), PLACEHOLDER), 'the account auth token that signs webhooks'),
  TWILIO_AUTH_TOKEN_SECONDARY: optional(z.string()),
  TWILIO_API_BASE_URL: optional(baseUrl),
  TWILIO_API_KEY_SID: optional(z.string().regex(/^SK[0-9a-f]{32}$/, 'must be SK followed by 32 lowercase hex digits')),
  TWILIO_API_KEY_SECRET: optional(z.string().min(1)),
  DATABASE_PATH: optional(z.string()),
  // Parsed by the PostgreSQL client, which also takes several hosts (`db1:5432,db2:5432`) that URL() refuses.
  DATABASE_URL: optional(
    z.string().refine((v) => /^postgres(ql)?:\/\/[^/?#]*[^/?#:@]/.test(v), 'must be a postgres:// or postgresql:// URL naming a host, such as postgres://siprec@db.example.com:5432/siprec'),
  ),
  DATABASE_POOL_SIZE: optional(wholeNumber('connections', 1, 1000)).default(10),
  ADMIN_TOKEN: required(
    z
      .string()
      .min(24, 'must be at least 24 characters')
      .refine((v) => !isPlaceholder(v), PLACEHOLDER)
      // Only once long enough: "too short" alone says what to do.
      .superRefine((v, ctx) => {
        const weak = v.length >= 24 ? weakTokenProblem(v) : undefined;
        if (weak) ctx.addIssue({ code: 'custom', message: weak });
      }),
    'at least 24 characters',
  ),
  ROUTES_FILE: optional(z.string()).default('./routes.json'),
  STORE_CALLER_NUMBERS: optional(z.enum(CALLER_NUMBER_MODES, { error: 'must be full, masked or none' })).default('full'),
  ALERT_WEBHOOK_URL: optional(z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL such as https://hooks.slack.com/services/…' })),
  ALERT_WEBHOOK_SECRET: optional(z.string().min(16, 'must be at least 16 characters')),
  ALERT_START_TIMEOUT_SECONDS: optional(wholeNumber('seconds', 1, 86400)).default(30),
  ALERT_ERROR_BURST_COUNT: optional(wholeNumber('errors', 1, 100000)).default(5),
  ALERT_ERROR_BURST_MINUTES: optional(wholeNumber('minutes', 1, 1440)).default(5),
  MAX_CONNECTIONS: optional(wholeNumber('connections', 64, 1_000_000)).default(4096),
  KEEP_ALIVE_TIMEOUT_SECONDS: optional(wholeNumber('seconds', 1, 600)).default(65),
  TRUST_PROXY: optional(trustProxy).default(false),
  // Twilio gives up on a voice webhook after 15 s: the answer must leave well before, whatever the ledger does.
  VOICE_LEDGER_DEADLINE_MS: optional(wholeNumber('milliseconds', 100, 10_000)).default(1500),
  RETENTION_DAYS: optional(z.coerce.number({ error: 'must be a whole number of days' }).int('must be a whole number of days').min(1, 'must be at least 1 day').max(36500, 'must be at most 36500 days')),
});

function formatPath(prefix: string, p: readonly PropertyKey[]): string {
  return p.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : `${acc}.${String(k)}`), prefix);
}

function loadRoutes(file: string, problems: string[]): Route[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    problems.push(`ROUTES_FILE: cannot read ${file} (${code}); copy routes.example.json to start`);
    return [];
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    problems.push(`ROUTES_FILE: ${file} is not valid JSON: ${(err as Error).message}`);
    return [];
  }
  const parsed = parseRoutesFile(json);
  if (!parsed.success) {
    for (const issue of parsed.issues) problems.push(`${formatPath(file, issue.path)}: ${issue.message}`);
    return [];
  }
  return parsed.data.routes;
}

/** Reads the environment and the routes file once; returns a frozen config or throws ConfigError. */
export function loadConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Config {
  const problems: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.success ? parsed.data : undefined;
  if (Boolean(env.TWILIO_API_KEY_SID) !== Boolean(env.TWILIO_API_KEY_SECRET)) {
    problems.push('TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET: set both or neither');
  }
  if (env.DATABASE_URL && env.DATABASE_PATH) {
    problems.push('DATABASE_URL and DATABASE_PATH: set one (PostgreSQL or a SQLite file), not both');
  }
  const routesFile = path.resolve(cwd, e?.ROUTES_FILE ?? (env.ROUTES_FILE || './routes.json'));
  const routes = loadRoutes(routesFile, problems);
  if (problems.length > 0 || !e) throw new ConfigError(problems);

  return deepFreeze({
    port: e.PORT,
    host: e.HOST,
    publicBaseUrl: e.PUBLIC_BASE_URL,
    logLevel: e.LOG_LEVEL,
    storage: e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE }
      : { kind: 'sqlite', path: path.resolve(cwd, e.DATABASE_PATH ?? DEFAULT_DATABASE_PATH) },
    adminToken: e.ADMIN_TOKEN,
    routesFile,
    routes,
    storeCallerNumbers: e.STORE_CALLER_NUMBERS,
    retentionDays: e.RETENTION_DAYS,
    voiceLedgerDeadlineMs: e.VOICE_LEDGER_DEADLINE_MS,
    twilio: {
      accountSid: e.TWILIO_ACCOUNT_SID,
      authTokens: e.TWILIO_AUTH_TOKEN_SECONDARY ? [e.TWILIO_AUTH_TOKEN, e.TWILIO_AUTH_TOKEN_SECONDARY] : [e.TWILIO_AUTH_TOKEN],
      apiBaseUrl: e.TWILIO_API_BASE_URL,
      apiKeySid: e.TWILIO_API_KEY_SID,
      apiKeySecret: e.TWILIO_API_KEY_SECRET,
    },
    http: {
      maxConnections: e.MAX_CONNECTIONS,
      keepAliveTimeoutSeconds: e.KEEP_ALIVE_TIMEOUT_SECONDS,
      trustProxy: e.TRUST_PROXY,
    },
    alerts: {
      webhookUrl: e.ALERT_WEBHOOK_URL,
      webhookSecret: e.ALERT_WEBHOOK_SECRET,
      startTimeoutSeconds: e.ALERT_START_TIMEOUT_SECONDS,
      errorBurstCount: e.ALERT_ERROR_BURST_COUNT,
      errorBurstMinutes: e.ALERT_ERROR_BURST_MINUTES,
    },
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
