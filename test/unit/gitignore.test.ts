import { spawnSync } from 'node:child_process';
import { ROOT } from '../helpers/server-process';

/** git's own answer, from the repository's .gitignore; --no-index: whether or not the file exists or is tracked. */
const ignored = (file: string) => spawnSync('git', ['check-ignore', '--quiet', '--no-index', file], { cwd: ROOT }).status === 0;

describe('.gitignore', () => {
  it.each(['routes.json', '.env', 'data/siprec-control.sqlite', 'ledger.sqlite-wal'])('keeps %s, which holds real numbers or secrets, out of git', (file) => {
    expect(ignored(file)).toBe(true);
  });

  it.each(['routes.example.json', '.env.example', 'src/config/routes.ts', 'src/demo/routes.ts'])('still tracks %s', (file) => {
    expect(ignored(file)).toBe(false);
  });
});
