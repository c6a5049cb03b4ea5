import path from 'node:path';
import { parseArgs } from 'node:util';
import { BackupRefused, backupLedger } from '../store/sqlite/backup';
import { EXIT, usageError, type CliIo } from './args';
import { requireConfig } from './config';

const spec = {
  name: 'backup',
  usage: `Usage: siprec-control backup <file> [--force]

Copies the ledger (DATABASE_PATH) to <file> with SQLite's online backup API, safely while the server
runs: the copy is one consistent snapshot holding every callback acknowledged before the backup began,
and the server keeps taking callbacks meanwhile. The copy is checked with integrity_check and only then
renamed to <file>, so <file> is never a partial copy. Refuses an existing <file> unless --force, and a
missing ledger (exit 1). To restore: stop the server, put the copy at DATABASE_PATH, delete
DATABASE_PATH-wal and DATABASE_PATH-shm, start the server.

Options:
  --force   replace <file> if it exists

Example:
  siprec-control backup /var/backups/siprec-control-$(date +%F).sqlite`,
} as const;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_')) return usageError(spec, io, (err as Error).message);
    throw err;
  }
  if (parsed.values.help) {
    io.out(`${spec.usage}\n`);
    return EXIT.ok;
  }
  const files = parsed.positionals;
  if (files.length !== 1) return usageError(spec, io, files.length === 0 ? 'give the file to write the backup to' : `give one file, not ${files.length}`);
  const config = requireConfig(io, spec.name);
  if (typeof config === 'number') return config;

  if (config.storage.kind !== 'sqlite') {
    io.err('siprec-control backup: copies a SQLite ledger; a PostgreSQL ledger (DATABASE_URL) is backed up with pg_dump or your provider\'s snapshots and point-in-time recovery\n');
    return EXIT.failed;
  }
  const source = path.resolve(io.cwd, config.storage.path);
  const target = path.resolve(io.cwd, files[0]!);
  try {
    const r = await backupLedger(source, target, { force: parsed.values.force });
    io.out(
      `backed up ${source} to ${target}: ${r.pages} pages (${(r.bytes / 2 ** 20).toFixed(2)} MiB), ` +
        `${plural(r.calls, 'call')}, ${plural(r.sessions, 'session')}, ${plural(r.events, 'event')}; integrity_check ok\n`,
    );
    return EXIT.ok;
  } catch (err) {
    io.err(`siprec-control backup: ${(err as Error).message}\n`);
    if (!(err instanceof BackupRefused)) io.err(`nothing was written to ${target}\n`);
    return EXIT.failed;
  }
}
