/**
 * deploy/systemd/siprec-control.service: systemd's own checks (verify, and the offline security
 * review), then what systemd-analyze cannot know: that the app accepts the unit's environment, that
 * the ledger is inside the one writable path, and that ExecStart runs a file the build makes.
 * Nothing here runs the unit under systemd (this machine's PID 1 is not systemd).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { tempDir, testEnv } from '../helpers/env';
import { parseUnit } from '../helpers/proxy-configs';
import { ROOT } from '../helpers/server-process';

const FILE = path.join(ROOT, 'deploy', 'systemd', 'siprec-control.service');
const unit = parseUnit(readFileSync(FILE, 'utf8'));
const service = unit.Service!;
const values = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v);
const value = (key: string) => {
  const v = values(key);
  if (v.length !== 1) throw new Error(`${key} appears ${v.length} times`);
  return v[0]!;
};
const environment = Object.fromEntries(values('Environment').map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));

function systemdAnalyze(args: string[]) {
  const found = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error('systemd-analyze is not installed: apt-get install -y systemd');
  return spawnSync('systemd-analyze', args, { encoding: 'utf8' });
}

describe('deploy/systemd/siprec-control.service', () => {
  it('passes systemd-analyze verify with nothing to say', () => {
    const r = systemdAnalyze(['verify', FILE]);
    expect({ status: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ status: 0, out: '' });
  });

  it("is rated OK or better by systemd-analyze security (exposure at most 2.0 of 10)", () => {
    const r = systemdAnalyze(['security', '--offline=true', '--threshold=20', FILE]); // in tenths: 2.0
    const score = /Overall exposure level for siprec-control\.service: ([\d.]+)/.exec(r.stdout)?.[1];
    process.stdout.write(`systemd-analyze security: exposure ${score}\n`);
    expect(r.status).toBe(0);
    expect(Number(score)).toBeLessThanOrEqual(2.0);
  });

  it('sets the hardening options, and not MemoryDenyWriteExecute, under which V8 aborts', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      RestrictNamespaces: 'yes',
      SystemCallArchitectures: 'native',
      LockPersonality: 'yes',
    };
    expect(Object.fromEntries(Object.keys(expected).map((k) => [k, value(k)]))).toEqual(expected);
    expect(values('SystemCallFilter')).toContain('@system-service');
    expect(values('MemoryDenyWriteExecute')).toEqual([]);
    expect(value('User')).not.toBe('root');
  });

  it('writes only where the ledger is: its folder is the state directory and the one ReadWritePaths', () => {
    const ledgerDir = path.posix.dirname(environment.DATABASE_PATH!);
    expect(values('ReadWritePaths')).toEqual([ledgerDir]);
    expect(`/var/lib/${value('StateDirectory')}`).toBe(ledgerDir);
  });

  it('runs node on the built entry point directly (npm would not pass SIGTERM on), from the checkout', () => {
    const [node, script, ...rest] = value('ExecStart').split(/\s+/);
    expect(path.posix.basename(node!)).toBe('node');
    expect(rest).toEqual([]);
    // WorkingDirectory stands for a built checkout: ExecStart's script is what npm run build makes.
    expect(existsSync(path.join(ROOT, script!))).toBe(true);
    expect(script).toBe('dist/main.js');
  });

  it("gives an environment the app's configuration accepts, on the address the proxy examples pass to", () => {
    const dir = tempDir();
    try {
      // The secrets come from EnvironmentFile; Environment= lines win over it, as in systemd.
      const config = loadConfig({ ...testEnv(dir), ...environment, DATABASE_PATH: dir.file('ledger.sqlite'), ROUTES_FILE: dir.file('routes.json') });
      expect({ host: config.host, port: config.port }).toEqual({ host: '127.0.0.1', port: 3000 });
      expect(value('EnvironmentFile')).toBe('/etc/siprec-control/env');
    } finally {
      dir.remove();
    }
  });
});
