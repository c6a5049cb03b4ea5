import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/cli-process';
import { tempDir, type TempDir } from '../helpers/env';
import { ROOT } from '../helpers/server-process';

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('siprec-control --version and --help', () => {
  let dir: TempDir;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.remove());

  it.each([['--version'], ['-v'], ['version']])('%s prints the package version and exits 0, without any configuration', async (flag) => {
    const run = await runCli([flag], {}, dir.dir);
    expect(run).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it.each([['--help'], ['-h'], ['help']])('%s lists every command, backup included, and mentions --version', async (flag) => {
    const run = await runCli([flag], {}, dir.dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: siprec-control \[command\] \[options\]/);
    for (const command of ['serve', 'check-config', 'twiml', 'simulate', 'purge', 'firewall', 'backup']) expect(run.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    expect(run.stdout).toContain('--version prints the version');
  });
});
