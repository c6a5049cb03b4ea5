/**
 * compose.yaml, read as Docker Compose reads it, against the Dockerfile and the app's own config.
 * No Docker engine runs here: the services' environment is worked out from the image's ENV and the
 * file's, then given to the real config loader and to two real instances on one PostgreSQL.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config';
import { parseDockerfile } from '../helpers/dockerfile';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { describeWithPostgres, freshPgDatabase, type PgDatabase } from '../helpers/pg';
import { ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process';

interface Service {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  env_file?: string;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, Service> };
const runtime = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).at(-1)!;
const nginx = readFileSync(path.join(ROOT, 'deploy', 'compose', 'nginx.conf'), 'utf8');
const APPS = ['app1', 'app2'];

/** Compose's interpolation of `${NAME:?message}` and `${NAME}` from the shell's environment. */
function interpolate(value: string, shell: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::\?[^}]*)?\}/g, (_, name: string) => {
    if (!(name in shell)) throw new Error(`compose would refuse: ${name} is not set`);
    return shell[name]!;
  });
}

/** What a container of `service` sees: the image's ENV, then env_file, then environment (compose's order). */
function containerEnv(service: Service, envFile: Record<string, string>, shell: Record<string, string>): Record<string, string> {
  const own = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), shell)]));
  return { ...runtime.env, ...envFile, ...own };
}

describe('compose.yaml as written', () => {
  it('runs two instances of the Dockerfile behind nginx, on the db service, each waited for by its health check', () => {
    for (const name of APPS) {
      const app = compose.services[name]!;
      expect(app.build).toBe('.');
      expect(app.depends_on?.db).toEqual({ condition: 'service_healthy' });
      expect(app.volumes).toContain('./routes.json:/app/routes.json:ro');
    }
    // service_healthy on the apps needs a health check: the image's, which asks /readyz.
    expect(JSON.stringify(runtime.healthcheck?.command)).toContain('/readyz');
    const proxy = compose.services.proxy!;
    expect(proxy.depends_on).toEqual({ app1: { condition: 'service_healthy' }, app2: { condition: 'service_healthy' } });
    const mounted = proxy.volumes!.map((v) => v.split(':')[0]!);
    for (const file of mounted) expect(existsSync(path.join(ROOT, file))).toBe(true);
    expect(compose.services.db!.healthcheck?.test.join(' ')).toContain('pg_isready');
  });

  it('points nginx at both instances on the port the image listens on, retrying only Twilio webhooks', () => {
    const servers = [...nginx.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    expect(servers).toEqual(APPS.map((a) => `${a}:${runtime.env.PORT}`));
    const twilio = /location \/twilio\/ \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    expect(twilio).toMatch(/proxy_next_upstream error timeout http_502 http_503 non_idempotent;/);
    const operator = /location \/ \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    expect(operator).toMatch(/proxy_next_upstream off;/);
  });

  it('gives each instance a configuration the app accepts: PostgreSQL at db, DATABASE_PATH from the image overridden', () => {
    const dir = tempDir();
    try {
      const envFile = testEnv(dir);
      delete (envFile as Record<string, string | undefined>).DATABASE_PATH;
      for (const name of APPS) {
        const env = containerEnv(compose.services[name]!, envFile, { POSTGRES_PASSWORD: 'pw-from-the-shell' });
        expect(runtime.env.DATABASE_PATH).toBeTruthy();
        const config = loadConfig(env, dir.dir);
        expect(config.storage).toEqual({ kind: 'postgres', url: 'postgres://siprec:pw-from-the-shell@db:5432/siprec', poolSize: 10 });
        expect(config.http.trustProxy).toBe(1);
      }
      expect(() => containerEnv(compose.services.app1!, envFile, {})).toThrow(/POSTGRES_PASSWORD is not set/);
    } finally {
      dir.remove();
    }
  });
});

describeWithPostgres('compose.yaml\'s instance environment, run for real', () => {
  let dir: TempDir;
  let pg: PgDatabase;
  const running: ServerProcess[] = [];
  beforeEach(async () => {
    dir = tempDir();
    pg = await freshPgDatabase();
  });
  afterEach(async () => {
    for (const p of running.splice(0)) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    await pg.drop();
    dir.remove();
  });

  it('boots two instances at once on one empty database, both ready', async () => {
    const env = { ...testEnv(dir), DATABASE_PATH: '', DATABASE_URL: pg.url, DATABASE_POOL_SIZE: '10', TRUST_PROXY: '1' };
    running.push(...(await Promise.all([startServerProcess(env), startServerProcess(env)])));
    for (const p of running) {
      const res = await fetch(`${p.url}/readyz`);
      expect(res.status).toBe(200);
    }
  });
});
