import { existsSync } from 'node:fs';
import path from 'node:path';
import { describeStorage } from '../store';
import { copySqliteLedger, type CopyReport } from '../store/postgres/copy-from-sqlite';
import { EXIT, parseCommand, usageError, type CliIo } from './args';
import { openLedger, requireConfig } from './config';

const spec = {
  name: 'copy-ledger',
  usage: `Usage: siprec-control copy-ledger --from <sqlite file>

Copies a SQLite ledger (calls, SIPREC sessions, events and alerts; the stat counters follow from them)
into the PostgreSQL ledger at DATABASE_URL, migrating it first. Shows progress, and checks at the end
that every row of the file is in PostgreSQL. It can be rerun, and run while instances already write
to DATABASE_URL: rows already there are left as they are, nothing is copied twice. The file is only
read; stop the SQLite server first (or copy a backup: siprec-control backup), or rerun once it has
stopped to pick up what it wrote meanwhile.

Example:
  DATABASE_URL=postgres://siprec@db.example.com/siprec siprec-control copy-ledger --from ./data/siprec-control.sqlite`,
  options: { from: { type: 'string' } },
} as const;

const line = (name: string, t: CopyReport['calls']) => `  ${name.padEnd(9)} ${t.source} in the file, ${t.copied} copied, ${t.present} present in PostgreSQL`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  if (!values.from) return usageError(spec, io, 'give the SQLite ledger to copy with --from <file>');
  const file = path.resolve(io.cwd, values.from);
  if (!existsSync(file)) {
    io.err(`siprec-control copy-ledger: no SQLite ledger at ${file}\n`);
    return EXIT.failed;
  }
  const config = requireConfig(io, spec.name);
  if (typeof config === 'number') return config;
  if (config.storage.kind !== 'postgres') return usageError(spec, io, 'set DATABASE_URL to the PostgreSQL ledger to copy into (and unset DATABASE_PATH)');

  // Opening the store migrates the target (under its advisory lock) to the code's schema.
  const store = await openLedger(io, spec.name, config.storage, { mustExist: false });
  if (typeof store === 'number') return EXIT.failed;
  await store.close();

  io.out(`copying ${file} into ${describeStorage(config.storage)}\n`);
  let report: CopyReport;
  let batches = 0;
  try {
    report = await copySqliteLedger(file, config.storage.url, (r) => {
      batches += 1;
      if (batches % 20 === 1) io.out(`  … ${r.calls.present}/${r.calls.source} calls, ${r.events.present}/${r.events.source} events\n`);
    });
  } catch (err) {
    io.err(`siprec-control copy-ledger: stopped: ${(err as Error).message}\nWhat was copied is committed; run the command again to go on.\n`);
    return EXIT.failed;
  }
  io.out(`${line('calls', report.calls)}\n${line('sessions', report.sessions)}\n${line('events', report.events)}\n${line('alerts', report.alerts)}\n`);
  const short = Object.entries(report).filter(([, t]) => t.present !== t.source);
  if (short.length > 0) {
    io.err(`siprec-control copy-ledger: counts do not match for ${short.map(([k]) => k).join(', ')}: run it again; if they still differ, the ledgers disagree on a key (see the lines above)\n`);
    return EXIT.failed;
  }
  io.out('counts match: every row of the file is in PostgreSQL\n');
  return EXIT.ok;
}
