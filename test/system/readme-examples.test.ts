import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TEST_ADMIN_TOKEN, tempDir, testEnv, type TempDir } from '../helpers/env';
import { ROOT, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildVoiceForm, sign } from '../helpers/twilio-requests';

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The first ```sh block after a heading of the README, exactly as a reader would paste it. */
function shBlockAfter(heading: string): string {
  const at = README.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README has no heading ${JSON.stringify(heading)}`);
  const m = /```sh\n([\s\S]*?)```/.exec(README.slice(at));
  if (!m) throw new Error(`no sh block after ${heading}`);
  return m[1]!;
}

/** A JSON body, or the line itself: a body that is not JSON then fails an assertion, not the 'close' handler. */
function parseLine(line: string): unknown {
  try {
    return line.startsWith('{') ? JSON.parse(line) : line;
  } catch {
    return line;
  }
}

/** The tools the README's examples use; missing ones fail the test with the install command. */
const TOOLS = ['bash', 'curl', 'jq'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);

/**
 * Runs a README block in bash, with curl wrapped to print each body on its own line (stdout) and
 * each HTTP status on stderr, so the test can tell the commands' answers apart.
 */
function paste(block: string, env: Record<string, string>): Promise<{ code: number | null; bodies: unknown[]; statuses: string[] }> {
  // --max-time: a server that hangs fails the test with curl's message rather than at jest's timeout, with bash left running.
  const wrapper = `curl() { command curl -sS --max-time 5 -w '%{stderr}%{http_code}\\n' "$@"; echo; }\n`;
  return new Promise((resolve) => {
    // stdin from /dev/null: on a socket (libuv's default), bash takes itself for rshd's child and reads ~/.bashrc.
    const child = spawn('bash', ['-c', wrapper + block], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const bodies = out.split('\n').filter(Boolean).map(parseLine);
      resolve({ code, bodies, statuses: err.split('\n').filter(Boolean) });
    });
  });
}

describe('the README operator-API examples, pasted into bash', () => {
  it('has curl and jq to run them with', () => {
    expect({ missing: TOOLS, install: 'apt-get install -y curl jq' }).toEqual({ missing: [], install: expect.any(String) });
  });

  describe('List sessions, newest first', () => {
    let dir: TempDir;
    let server: ServerProcess;
    const calls: string[] = [];
    beforeAll(async () => {
      dir = tempDir();
      const env = testEnv(dir);
      server = await startServerProcess(env);
      // 11 calls to the two-recorder route: 22 sessions, so limit=20 leaves a second page of 2.
      for (let i = 0; i < 11; i++) {
        const form = buildVoiceForm({ To: '+15550001111' });
        const res = await fetch(`${server.url}/twilio/voice`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(`${env.PUBLIC_BASE_URL}/twilio/voice`, form) },
          body: new URLSearchParams(form),
        });
        expect(res.status).toBe(200);
        calls.push(form.CallSid!);
      }
    }, 60_000);
    afterAll(async () => {
      server?.child.kill('SIGTERM');
      await server?.exited;
      dir?.remove();
    });

    it('runs every command as written, the next page through the previous nextCursor included', async () => {
      const run = await paste(shBlockAfter('### List sessions, newest first'), { BASE: server.url, TOKEN: TEST_ADMIN_TOKEN, CALL: calls[0]! });
      expect(run.code).toBe(0);
      expect(run.statuses).toEqual(['200', '200', '200', '200']);
      const [filtered, byCall, nextPage] = run.bodies as Array<{ sessions: Array<{ callSid: string }>; nextCursor: string | null }>;
      expect(filtered!.sessions).toEqual([]);
      expect(byCall!.sessions.map((s) => s.callSid)).toEqual([calls[0], calls[0]]);
      // The oldest call's two sessions are what is left after the newest 20.
      expect(nextPage!.sessions.map((s) => s.callSid)).toEqual([calls[0], calls[0]]);
      expect(nextPage!.nextCursor).toBeNull();
    });
  });

  describe('Start SIPREC on a live call, on the demo\'s live call 3', () => {
    let demo: ChildProcessWithoutNullStreams;
    let out = '';
    beforeAll(async () => {
      // Only PATH, as a new user's shell would give it.
      demo = spawn(process.execPath, [path.join(ROOT, 'dist', 'demo', 'index.js'), '--port', '0'], { env: { PATH: process.env.PATH ?? '' } });
      demo.stdout.on('data', (d) => (out += d));
      demo.stderr.on('data', (d) => (out += d));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the demo did not get ready:\n${out}`)), 30_000);
        demo.stdout.on('data', () => {
          if (!out.includes('Ctrl-C stops the demo')) return;
          clearTimeout(timer);
          resolve();
        });
      });
    }, 40_000);
    afterAll(async () => {
      // A demo that died by a signal has no exitCode either, and its 'exit' has already fired.
      if (demo && demo.exitCode === null && demo.signalCode === null) {
        const exited = new Promise((r) => demo.once('exit', r));
        demo.kill('SIGINT');
        await exited;
      }
    });

    it('starts a second session, then answers 409 for the other example, as the README says next to them', async () => {
      const base = /status page {4}(http:\/\/127\.0\.0\.1:\d+)\/ /.exec(out)![1]!;
      const token = /^ {2}admin token {4}(\S+)$/m.exec(out)![1]!;
      const call3 = /^call 3: .*CallSid (CA[0-9a-f]{32})$/m.exec(out)![1]!;
      const block = shBlockAfter('### Start SIPREC on a live call');
      const run = await paste(block, { BASE: base, TOKEN: token, CALL: call3 });
      expect(run.statuses).toEqual(['201', '409']);
      expect(run.bodies[0]).toMatchObject({ name: 'gridspace-2', connectorName: 'Gridspace_1', state: 'requested' });
      expect(run.bodies[1]).toMatchObject({ error: `call ${call3} already has 2 open SIPREC sessions (at most 2); stop one first` });
      // The reader is told before pasting that the second is another way, not a second start.
      expect(block).toMatch(/# .*409/);
    });
  });
});
