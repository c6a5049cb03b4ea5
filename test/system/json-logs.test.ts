import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

/** Headers that used to make express-rate-limit print a multi-line ValidationError stack to stderr. */
const TRICK = { 'x-forwarded-for': '198.51.100.7', forwarded: 'for=198.51.100.7;proto=https' };

describe('the server process writes nothing but JSON lines', () => {
  let dir: TempDir;
  let server: ServerProcess | undefined;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => {
    server?.child.kill('SIGKILL');
    server = undefined;
    dir.remove();
  });

  it.each([
    ['with TRUST_PROXY off', {}],
    ['with TRUST_PROXY=1', { TRUST_PROXY: '1' }],
  ])('%s, after wrong credentials with X-Forwarded-For and Forwarded until 429', async (_name, extra: Record<string, string>) => {
    server = await startServerProcess(testEnv(dir, undefined, { LOG_LEVEL: 'info', ...extra }));
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${server.url}/api/stats`, { headers: { authorization: 'Bearer a-wrong-guess', ...TRICK } });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses).toContain(429);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);

    const lines = server.output().split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(12);
    const notJson = lines.filter((l) => {
      try {
        return typeof JSON.parse(l) !== 'object';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
  });
});
