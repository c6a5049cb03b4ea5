import { spawn } from 'node:child_process';
import { CLI } from '../helpers/cli-process';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildVoiceForm, newCallSid, sign } from '../helpers/twilio-requests';

/** The CLI's stdout as the bytes it wrote, not decoded and re-encoded. */
function cliBytes(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: Buffer }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.resume();
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks) }));
  });
}

// README: `twiml` prints the TwiML POST /twilio/voice would answer, byte for byte.
describe('siprec-control twiml, byte for byte against the server', () => {
  let dir: TempDir;
  let env: Record<string, string>;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = tempDir();
    env = testEnv(dir);
    server = await startServerProcess(env);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.remove();
  });

  it.each([
    ['a route whose parameters quote the call', '+15550001111'],
    ['the default route', '+15559998888'],
  ])('prints exactly the bytes POST /twilio/voice answers for %s', async (_what, to) => {
    const form = buildVoiceForm({ CallSid: newCallSid(), To: to, From: '+14155550100' });
    const res = await fetch(`${server.url}/twilio/voice`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(`${env.PUBLIC_BASE_URL}/twilio/voice`, form) },
      body: new URLSearchParams(form),
    });
    expect(res.status).toBe(200);
    const answered = Buffer.from(await res.arrayBuffer());
    const { code, stdout } = await cliBytes(['twiml', '--to', to, '--from', form.From!, '--call-sid', form.CallSid!], env, dir.dir);
    expect(code).toBe(0);
    expect(answered.length).toBeGreaterThan(0);
    expect(stdout.equals(answered)).toBe(true);
    expect(stdout.toString('utf8')).toBe(answered.toString('utf8'));
  });
});
