/**
 * The Dockerfile's build and run steps, run in a clean copy of the repository without a Docker
 * engine (test/helpers/dockerfile.ts says how each instruction is emulated). The steps are read
 * from the Dockerfile, never repeated here, so a step that stops working fails this test.
 */
import { devOnlyDependencies } from '../helpers/dev-dependencies';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkoutFiles, copyFiles, LISTENING, runChild, startChild, type Child } from '../helpers/checkout-copy';
import { closedPort } from '../helpers/cli-process';
import { buildStages, dockerignore, instructions, parseDockerfile, IMAGE_USERS, type EmulatedStage } from '../helpers/dockerfile';
import { DEFAULT_TEST_ROUTES, tempDir, testEnv } from '../helpers/env';
import { ROOT } from '../helpers/server-process';

const stages = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
const ignored = dockerignore(readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'));
const runtime = stages.at(-1)!;
const DEV_DEPENDENCIES = devOnlyDependencies();

describe('the emulator reads Dockerfiles as Docker does', () => {
  it('joins continuation lines and drops comments, also inside a continuation', () => {
    expect(instructions('# c\nENV A=1 \\\n  # inside\n  B=2\nRUN echo hi\n')).toEqual([
      { keyword: 'ENV', args: 'A=1 B=2', line: 2 },
      { keyword: 'RUN', args: 'echo hi', line: 5 },
    ]);
  });

  it('matches .dockerignore patterns against parent folders; the last match wins', () => {
    const match = dockerignore('*\n!src\nsrc/secret.ts\n');
    expect(['src/app.ts', 'src/a/b.ts', 'README.md', 'src/secret.ts'].map(match)).toEqual([false, false, true, true]);
  });
});

describe('Dockerfile as written', () => {
  it('builds in one stage and runs from another, both on node:20-bookworm-slim, the Node major these tests run on', () => {
    expect(stages.map((s) => `${s.name} ${s.base}`)).toEqual(['build node:20-bookworm-slim', 'runtime node:20-bookworm-slim']);
    // The host's node stands in for the image's.
    expect(process.versions.node.split('.')[0]).toBe('20');
  });

  it('runs as an unprivileged user, with the ledger on a volume and a health check on /readyz through node', () => {
    expect(runtime.user).not.toBe('root');
    expect(IMAGE_USERS[runtime.user]!.uid).toBeGreaterThan(0);
    const ledger = runtime.env.DATABASE_PATH!;
    expect(runtime.volumes.some((v) => ledger.startsWith(`${v.replace(/\/$/, '')}/`))).toBe(true);
    expect(runtime.healthcheck?.command).toEqual(['node', '-e', expect.stringContaining('/readyz')]);
    expect(runtime.expose).toEqual([runtime.env.PORT]);
    expect(runtime.cmd).toEqual(['node', 'dist/main.js']); // node as PID 1: docker stop's SIGTERM reaches the server
  });

  it('compiles in the build stage only: the runtime stage runs no npm and installs no package', () => {
    const runs = runtime.steps.flatMap((s) => (s.kind === 'run' ? [String(s.command)] : []));
    expect(runs.filter((r) => /\b(npm|apt-get|node-gyp)\b/.test(r))).toEqual([]);
  });

  it('.dockerignore keeps secrets, ledgers and build output out of the build context', () => {
    const kept = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/main.ts', 'migrations/sqlite/001_initial.sql', 'public/index.html'];
    const dropped = ['.env', '.env.production', 'routes.json', 'data/siprec-control.sqlite', 'x.sqlite-wal', 'node_modules/zod/package.json', 'dist/main.js', '.git/config', 'test-artifacts/a.png', 'bench/results/run.json', 'test/unit/config.test.ts'];
    expect(kept.filter(ignored)).toEqual([]);
    expect(dropped.filter((f) => !ignored(f))).toEqual([]);
  });
});

describe('Dockerfile built and run in a clean copy of the repository', () => {
  let work: string;
  let built: EmulatedStage[];
  let image: EmulatedStage;
  let server: Child | undefined;
  const data = tempDir();

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'siprec-docker-'));
    const context = path.join(work, 'context');
    copyFiles(checkoutFiles().filter((f) => !ignored(f)), ROOT, context);
    built = await buildStages(stages, context, work);
    image = built.at(-1)!;
  }, 180_000);
  afterAll(() => {
    server?.kill();
    rmSync(work, { recursive: true, force: true });
    data.remove();
  });

  it('every step ran', () => {
    const steps = stages.flatMap((s) => s.steps.filter((st) => st.kind !== 'workdir'));
    expect(built.flatMap((b) => b.log)).toHaveLength(steps.length);
  });

  it('the runtime image holds the build and the production dependencies, nothing else', () => {
    const app = (p: string) => image.hostPath(path.posix.join(image.workdir, p));
    for (const p of ['dist/main.js', 'dist/cli.js', 'dist/store/sqlite/writer-worker.js', 'migrations/sqlite/001_initial.sql', 'public/index.html', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'])
      expect({ p, present: existsSync(app(p)) }).toEqual({ p, present: true });
    for (const p of ['src', 'test', '.env', 'routes.json', ...DEV_DEPENDENCIES.map((d) => `node_modules/${d}`)]) expect({ p, present: existsSync(app(p)) }).toEqual({ p, present: false });
  });

  it('CMD serves as the image user with the ledger on the volume; HEALTHCHECK passes, and fails once docker stop has stopped it', async () => {
    // What `docker run -e … -v ./routes.json:/app/routes.json:ro` adds; HOST narrowed to loopback for the test.
    const { DATABASE_PATH: _db, ROUTES_FILE: _routes, ...secrets } = testEnv(data);
    writeFileSync(image.hostPath(path.posix.join(image.workdir, 'routes.json')), JSON.stringify(DEFAULT_TEST_ROUTES));
    const env = { PATH: process.env.PATH ?? '', ...image.env, ...secrets, LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: String(await closedPort()) };
    const cwd = image.hostPath(image.workdir);
    const [cmd, ...args] = image.argv(image.stage.cmd!);
    const [hc, ...hcArgs] = image.argv(image.stage.healthcheck!.command);
    const healthcheck = () => runChild(hc!, hcArgs, { cwd, env, ...image.runAs }, 10_000);

    server = startChild(cmd!, args, { cwd, env, ...image.runAs });
    await server.waitFor(LISTENING, 30_000);
    const ledger = statSync(image.env.DATABASE_PATH!);
    if ('uid' in image.runAs) expect(ledger.uid).toBe(image.runAs.uid);
    expect(await healthcheck()).toEqual({ code: 0, output: '' });

    server.child.kill('SIGTERM'); // docker stop
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('stopped; database closed');
    expect((await healthcheck()).code).toBe(1);
  }, 60_000);
});
