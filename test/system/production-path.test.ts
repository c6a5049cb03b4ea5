/**
 * The README's production path, run in a clean copy of the checkout: build with the dev
 * dependencies, drop them with npm prune --omit=dev, then npm start, the bin, npx and npm link, with
 * nothing but production dependencies installed.
 */
import { devOnlyDependencies } from '../helpers/dev-dependencies';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkoutFiles, copyFiles, copyNodeModules, LISTENING, npmEnv, runChild, startChild, type Child } from '../helpers/checkout-copy';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { ROOT } from '../helpers/server-process';

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const DEV_DEPENDENCIES = devOnlyDependencies();

describe('the production path: npm ci, npm run build, npm prune --omit=dev, npm start', () => {
  let copy: string;
  let data: TempDir;
  let server: Child | undefined;

  beforeAll(async () => {
    copy = mkdtempSync(path.join(tmpdir(), 'siprec-prod-'));
    copyFiles(checkoutFiles(), ROOT, copy);
    copyNodeModules(copy); // what npm ci leaves
    const build = await runChild('npm', ['run', 'build'], { cwd: copy, env: npmEnv() }, 90_000);
    if (build.code !== 0) throw new Error(`npm run build failed:\n${build.output}`);
    const prune = await runChild('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: copy, env: npmEnv() });
    if (prune.code !== 0) throw new Error(`npm prune --omit=dev failed:\n${prune.output}`);
  }, 150_000);
  afterAll(() => rmSync(copy, { recursive: true, force: true }));
  beforeEach(() => (data = tempDir()));
  afterEach(() => {
    server?.kill();
    server = undefined;
    data.remove();
  });

  it('leaves no dev dependency installed', () => {
    for (const name of DEV_DEPENDENCIES) expect({ name, installed: existsSync(path.join(copy, 'node_modules', name)) }).toEqual({ name, installed: false });
    expect(existsSync(path.join(copy, 'node_modules', 'better-sqlite3'))).toBe(true);
  });

  it('npm start serves /readyz and stops cleanly on Ctrl-C', async () => {
    server = startChild('npm', ['start'], { cwd: copy, env: npmEnv({ ...testEnv(data), PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' }) });
    const [, url] = await server.waitFor(LISTENING, 30_000);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    // A terminal's Ctrl-C signals npm and node together. (npm does not pass a SIGTERM sent to it
    // alone on to node, which is why the systemd unit and the Dockerfile run node directly.)
    server.signalGroup('SIGINT');
    await server.waitFor(/stopped; database closed/);
    await server.closed;
  }, 60_000);

  it('the bin runs by itself (shebang and executable bit) and prints the package version', async () => {
    const run = await runChild(path.join(copy, 'dist', 'cli.js'), ['--version'], { cwd: data.dir, env: npmEnv() });
    expect(run).toEqual({ code: 0, output: `${VERSION}\n` });
  });

  it("npx siprec-control finds the checkout's own bin, without a registry", async () => {
    const run = await runChild('npx', ['--offline', 'siprec-control', '--version'], { cwd: copy, env: npmEnv() });
    expect(run).toEqual({ code: 0, output: `${VERSION}\n` });
  });

  it('npm link puts siprec-control on PATH', async () => {
    const prefix = data.file('npm-prefix'); // a throwaway global folder: the machine's stays untouched
    const link = await runChild('npm', ['link', '--offline', '--no-audit', '--no-fund'], { cwd: copy, env: npmEnv({ npm_config_prefix: prefix }) });
    expect(link.code).toBe(0);
    const env = npmEnv({ PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}` });
    const version = await runChild('siprec-control', ['--version'], { cwd: data.dir, env });
    expect(version).toEqual({ code: 0, output: `${VERSION}\n` });
    const help = await runChild('siprec-control', ['--help'], { cwd: data.dir, env });
    expect(help.code).toBe(0);
    expect(help.output).toMatch(/^Usage: siprec-control \[command\]/);
    expect(help.output).toMatch(/^ {2}backup /m);
  });
});

describe('npm start without a build', () => {
  it('says how to build, and exits 1', async () => {
    const copy = mkdtempSync(path.join(tmpdir(), 'siprec-nodist-'));
    try {
      copyFiles(checkoutFiles(), ROOT, copy); // no node_modules, no dist/: what a clone holds
      const run = await runChild('npm', ['start'], { cwd: copy, env: npmEnv() });
      expect(run.code).toBe(1);
      expect(run.output).toContain('siprec-control: dist/main.js is missing; build it first: npm ci && npm run build');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
