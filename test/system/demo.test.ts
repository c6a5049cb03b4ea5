import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { tempDir, type TempDir } from '../helpers/env';
import { ROOT } from '../helpers/server-process';

const DEMO = path.join(ROOT, 'dist', 'demo', 'index.js');

interface DemoProcess {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  exited: Promise<number | string>;
  /** Resolves once the output matches, with the match. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

function startDemo(args: string[]): DemoProcess {
  // Only PATH: the demo must not need (or read) anything from a developer's environment.
  const child = spawn(process.execPath, [DEMO, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const waitFor = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(poll);
        reject(new Error(`timed out waiting for ${pattern}:\n${out}`));
      }, timeoutMs);
      const poll = setInterval(() => {
        const m = pattern.exec(out);
        if (m) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(m);
        }
      }, 50);
    });
  return { child, output: () => out, exited, waitFor };
}

const STEP_LINES = [
  /^call 1: \+14155550100 → \+15550001111 \(sales line: two recorders, one stopped by an operator\), CallSid CA[0-9a-f]{32}$/m,
  /^ {2}ok {4}call 1 voice webhook: 200, TwiML starts gridspace \(Gridspace_1, POST callback\) and compliance \(Compliance_SRS, GET callback\), then <Dial>$/m,
  /^ {2}ok {4}call 1 siprec-started gridspace: 204$/m,
  /^ {2}ok {4}call 1 siprec-started compliance: 204$/m,
  /^ {2}ok {4}call 1 operator stops compliance: POST \/api\/calls\/CA[0-9a-f]{32}\/siprec\/compliance\/stop → 202; Twilio's REST API got Status=stopped$/m,
  /^ {2}ok {4}call 1 siprec-stopped compliance: 204$/m,
  /^ {2}ok {4}call 1 siprec-stopped gridspace: 204$/m,
  /^ {2}ok {4}call 1 ledger: gridspace stopped, compliance stopped \(stopped by operator\)$/m,
  /^ {2}ok {4}call 2 voice webhook: 200, TwiML starts compliance \(Compliance_SRS, POST callback\), then <Enqueue>$/m,
  /^ {2}ok {4}call 2 siprec-error compliance: 204 \(SiprecErrorCode 32011: .+\)$/m,
  /^ {2}ok {4}call 2 ledger: compliance failed \(error 32011\)$/m,
  /^ {2}ok {4}call 3 voice webhook: 200, TwiML starts gridspace \(Gridspace_1, POST callback\), then <Redirect>$/m,
  /^ {2}ok {4}call 3 ledger: gridspace active$/m,
  /^demo: all 14 steps passed$/m,
];

describe('npm run demo', () => {
  let demo: DemoProcess | undefined;
  afterEach(() => demo?.child.kill('SIGKILL'));

  it('with --once plays every step, reports each one ok, exits 0 and leaves no database behind', async () => {
    demo = startDemo(['--once', '--port', '0']);
    expect(await demo.exited).toBe(0);
    const out = demo.output();
    for (const line of STEP_LINES) expect(out).toMatch(line);
    expect(out).not.toMatch(/FAIL/);
    const dir = /database in (\S+)\)/.exec(out)![1]!;
    expect(existsSync(dir)).toBe(false);
  });

  it('otherwise prints the status page and credentials, answers like Twilio for a stop from the operator, and stops cleanly on SIGINT', async () => {
    demo = startDemo(['--port', '0']);
    await demo.waitFor(/Ctrl-C stops the demo/);
    const out = demo.output();
    const url = /status page {4}(http:\/\/127\.0\.0\.1:\d+)\/ /.exec(out)![1]!;
    const admin = /^ {2}admin token {4}([0-9a-f]{48})$/m.exec(out)![1]!;
    expect(out).toMatch(/^ {2}account SID {4}AC[0-9a-f]{32}$/m);
    expect(out).toMatch(/^ {2}auth token {5}[0-9a-f]{32}$/m);
    const live = /^call 3: .*CallSid (CA[0-9a-f]{32})$/m.exec(out)![1]!;
    const auth = { Authorization: `Bearer ${admin}` };

    expect((await fetch(`${url}/`, { headers: auth })).status).toBe(200);
    const stop = await fetch(`${url}/api/calls/${live}/siprec/gridspace/stop`, { method: 'POST', headers: auth });
    expect(stop.status).toBe(202);
    await demo.waitFor(new RegExp(`ok {4}twilio siprec-stopped gridspace on ${live}: 204`));
    const call = (await (await fetch(`${url}/api/calls/${live}`, { headers: auth })).json()) as { sessions: Array<{ name: string; state: string }> };
    expect(call.sessions.map((s) => [s.name, s.state])).toEqual([['gridspace', 'stopped']]);

    const dir = /database in (\S+)\)/.exec(out)![1]!;
    expect(existsSync(dir)).toBe(true);
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toContain('demo: stopping; the database and credentials are gone');
    expect(existsSync(dir)).toBe(false);
  });

  describe('leaves nothing in its temp folder', () => {
    let tmp: TempDir;
    beforeEach(() => (tmp = tempDir('siprec-demo-tmp-')));
    afterEach(() => tmp.remove());

    /** Runs a shell line with TMPDIR pointing at a fresh folder; resolves once every process in it has exited. */
    const shell = (line: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn('bash', ['-c', `set -o pipefail; ${line}`], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', TMPDIR: tmp.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });

    it('when its output is cut short by | head -3 (EPIPE): it finishes the calls, cleans up and exits 0', async () => {
      const run = await shell(`"${process.execPath}" "${DEMO}" --once --port 0 | head -3`);
      expect(run.stdout.split('\n')).toHaveLength(4);
      expect(run.stdout).toMatch(/^siprec-control demo: .*\(database in \S+\)$/m);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(readdirSync(tmp.dir)).toEqual([]);
    });

    /** A demo with TMPDIR in the fresh folder; afterEach kills it if a test left it running. */
    let running: ChildProcessWithoutNullStreams | undefined;
    afterEach(async () => {
      const child = running;
      running = undefined;
      if (child && child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await gone;
      }
    });
    async function readyDemo(): Promise<{ child: ChildProcessWithoutNullStreams; out: () => string; exited: Promise<number | string> }> {
      const child = spawn(process.execPath, [DEMO, '--port', '0'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', TMPDIR: tmp.dir } });
      running = child;
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the demo did not get ready:\n${out}`)), 30_000);
        child.stdout.on('data', () => out.includes('Ctrl-C stops the demo') && (clearTimeout(timer), resolve()));
      });
      return { child, out: () => out, exited };
    }

    it.each(['SIGTERM', 'SIGHUP', 'SIGINT'] as const)('when stopped by %s while it runs', async (signal) => {
      const { child, exited } = await readyDemo();
      expect(readdirSync(tmp.dir)).toHaveLength(1);
      child.kill(signal);
      expect(await exited).toBe(0);
      expect(readdirSync(tmp.dir)).toEqual([]);
    });

    it('when a second Ctrl-C comes while it stops: it exits at once, 130, and still removes the folder', async () => {
      const demo = await readyDemo();
      const url = new URL(/siprec-control at (http:\/\/127\.0\.0\.1:\d+)/.exec(demo.out())![1]!);
      // A request whose body never ends holds the clean stop open (up to its 8 s cut): room for the second Ctrl-C.
      const held = connect(Number(url.port), '127.0.0.1');
      try {
        await new Promise<void>((resolve, reject) => {
          held.once('error', reject);
          held.on('data', (d) => String(d).startsWith('HTTP/1.1 100 Continue') && resolve());
          held.write('POST /twilio/voice HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n');
        });
        demo.child.kill('SIGINT');
        await new Promise<void>((resolve) => {
          const check = () => demo.out().includes('demo: stopping') && (demo.child.stdout.off('data', check), resolve());
          demo.child.stdout.on('data', check);
          check();
        });
        demo.child.kill('SIGINT');
        expect(await demo.exited).toBe(130);
        expect(readdirSync(tmp.dir)).toEqual([]);
      } finally {
        held.destroy();
      }
    });
  });

  it('refuses an unknown option with exit 2 and its usage', async () => {
    demo = startDemo(['--twice']);
    expect(await demo.exited).toBe(2);
    expect(demo.output()).toContain("npm run demo: Unknown option '--twice'");
    expect(demo.output()).toContain('Usage: npm run demo');
  });
});
