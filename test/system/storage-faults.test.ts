import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { buildSignedCallbacks, missingOrDoubled, readLedger, STATUS_PATH, type SignedCallback } from '../helpers/callback-load';
import { tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildVoiceForm, sign } from '../helpers/twilio-requests';

/**
 * Real storage faults under a running server: the database lives on a filesystem this test mounts.
 * - disk full: a small tmpfs, filled up with a filler file, emptied again by deleting it.
 * - read-only: Linux refuses `mount -o remount,ro` (EBUSY) while a process holds files open for
 *   writing, which the server always does. So the files themselves are made read-only: on ext4
 *   `chattr +i` makes every write to them fail, even root's through an open descriptor (EPERM), and
 *   `chattr -i` undoes it. The ext4 image sits on the tmpfs, so no real disk is touched.
 */

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' }).toString();
const errorText = (err: unknown) => ((err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message).split('\n')[0]!;

interface Fault {
  name: string;
  /** Mounts what the fault needs under `root` and returns the folder for the database. */
  prepare(root: string): string;
  inject(dbDir: string): void;
  remove(dbDir: string): void;
  cleanup(root: string): void;
}

const diskFull: Fault = {
  name: 'the disk fills up',
  prepare: (root) => root,
  inject: (dbDir) => {
    // Page by page, so that not one free block is left for the WAL to grow into.
    const fd = openSync(`${dbDir}/filler`, 'w');
    const page = Buffer.alloc(4096, 1);
    try {
      for (;;) writeSync(fd, page);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
  },
  remove: (dbDir) => rmSync(`${dbDir}/filler`),
  cleanup: () => undefined,
};

const readOnly: Fault = {
  name: 'the database files become read-only',
  prepare: (root) => {
    run('truncate', ['-s', '16M', `${root}/ext4.img`]);
    run('mkfs.ext4', ['-q', '-F', `${root}/ext4.img`]);
    mkdirSync(`${root}/ext4`);
    run('mount', ['-o', 'loop', `${root}/ext4.img`, `${root}/ext4`]);
    return `${root}/ext4`;
  },
  inject: (dbDir) => run('chattr', ['+i', `${dbDir}/ledger.sqlite`, `${dbDir}/ledger.sqlite-wal`]),
  remove: (dbDir) => run('chattr', ['-i', `${dbDir}/ledger.sqlite`, `${dbDir}/ledger.sqlite-wal`]),
  cleanup: (root) => run('umount', [`${root}/ext4`]),
};

async function postSigned(url: string, path: string, form: Record<string, string>, publicBaseUrl: string) {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(publicBaseUrl + path, form) },
    body: new URLSearchParams(form),
  });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
}

async function postCallback(url: string, cb: SignedCallback) {
  const res = await fetch(url + STATUS_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': cb.signature },
    body: cb.body,
  });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

const readyz = async (url: string) => (await fetch(`${url}/readyz`)).status;

describe('storage faults while the server runs', () => {
  let dir: TempDir;
  let root: string;
  /** Why this machine cannot mount, when it cannot. */
  let refused: string | null = null;

  beforeAll(() => {
    dir = tempDir();
    root = dir.file('fs');
    mkdirSync(root);
    try {
      run('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'siprec-faults', root]);
    } catch (err) {
      refused = errorText(err);
    }
  });
  afterAll(() => {
    if (refused === null) run('umount', ['-l', root]);
    dir.remove();
  });

  /** Runs `body` where faults can be made; elsewhere proves only that mounting is refused. */
  const faultIt = (name: string, body: () => Promise<void>) =>
    it(name, async () => {
      if (refused === null) return body();
      if (process.env.CI === 'true') throw new Error(`storage-fault tests need to mount a tmpfs (run as root): ${refused}`);
      console.log(`storage faults NOT exercised on this machine: mount refused: ${refused}`);
      expect(refused).toMatch(/permission|not permitted|only root|must be superuser|EPERM|EACCES/i);
    });

  describe.each([diskFull, readOnly])('when $name', (fault) => {
    let dbDir: string;
    let server: ServerProcess;
    let env: Record<string, string>;
    let refusedCallbacks: SignedCallback[] = [];
    const [warmUp, during] = ((all) => [all.slice(0, 20), all.slice(20)])(buildSignedCallbacks(18));

    beforeAll(async () => {
      if (refused !== null) return;
      dbDir = fault.prepare(root);
      env = testEnv(dir, undefined, { DATABASE_PATH: `${dbDir}/ledger.sqlite` });
      server = await startServerProcess(env);
      for (const cb of warmUp) expect((await postCallback(server.url, cb)).status).toBe(204);
      expect(await readyz(server.url)).toBe(200);
      fault.inject(dbDir);
    });
    afterAll(async () => {
      if (refused !== null) return;
      server?.child.kill('SIGKILL');
      await server?.exited;
      try {
        fault.remove(dbDir);
      } catch {
        // Already removed by the recovery test.
      }
      fault.cleanup(root);
    });

    faultIt('voice webhooks keep answering TwiML with <Siprec>, and the unrecorded call is logged', async () => {
      for (let i = 0; i < 3; i++) {
        const res = await postSigned(server.url, '/twilio/voice', buildVoiceForm(), env.PUBLIC_BASE_URL!);
        expect(res.status).toBe(200);
        expect(res.text).toContain('<Siprec');
      }
      const form = buildVoiceForm();
      const stop = await postSigned(server.url, '/twilio/siprec-stop?name=gridspace', form, env.PUBLIC_BASE_URL!);
      expect(stop.status).toBe(200);
      expect(stop.text).toContain('<Stop><Siprec name="gridspace"/></Stop>');
      expect(server.output()).toContain('LEDGER WRITE FAILED');
    });

    faultIt('status callbacks answer 503 with Retry-After: 1, all of them, even sent at once', async () => {
      const answers = await Promise.all(during.map((cb) => postCallback(server.url, cb)));
      expect(answers).toEqual(during.map(() => ({ status: 503, retryAfter: '1' })));
      refusedCallbacks = during;
    });

    faultIt('/readyz answers 503', async () => {
      expect(await readyz(server.url)).toBe(503);
      // The process itself is alive: only readiness fails.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    });

    faultIt('recovers without a restart once the fault is gone: 204 again, readyz 200, the refused callbacks stored once', async () => {
      fault.remove(dbDir);
      const retried = await Promise.all(refusedCallbacks.map((cb) => postCallback(server.url, cb)));
      expect(retried.map((r) => r.status)).toEqual(refusedCallbacks.map(() => 204));
      // A second delivery of the same callbacks, as Twilio may make, is acknowledged and not stored again.
      expect((await Promise.all(refusedCallbacks.map((cb) => postCallback(server.url, cb)))).map((r) => r.status)).toEqual(refusedCallbacks.map(() => 204));
      expect(await readyz(server.url)).toBe(200);

      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      const ledger = readLedger(env.DATABASE_PATH!);
      const acknowledged = [...warmUp, ...refusedCallbacks].map((cb) => cb.key);
      const figures = { fault: fault.name, acknowledged: acknowledged.length, refusedWhileFaulty: refusedCallbacks.length, stored: ledger.stored, lost: missingOrDoubled(acknowledged, ledger.counts).length, integrity: ledger.integrity };
      console.log(`storage fault: ${JSON.stringify(figures)}`);
      expect(refusedCallbacks).toHaveLength(during.length);
      expect(missingOrDoubled(acknowledged, ledger.counts)).toEqual([]);
      expect(ledger.stored).toBe(acknowledged.length);
      expect(ledger.integrity).toBe('ok');
    });
  });
});
