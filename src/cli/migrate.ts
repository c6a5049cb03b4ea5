import { describeStorage } from '../store';
import { EXIT, parseCommand, type CliIo } from './args';
import { openLedger, requireConfig } from './config';

const spec = {
  name: 'migrate',
  usage: `Usage: siprec-control migrate

Applies the ledger's pending schema migrations to DATABASE_URL (PostgreSQL) or DATABASE_PATH (SQLite,
created if missing) without starting the server, for deploy pipelines that migrate before they roll
out new instances. Safe to run while instances run and from several places at once: migrations are
applied under a lock, each once. A database migrated by newer code is refused (exit 1).

Example:
  DATABASE_URL=postgres://siprec@db.example.com/siprec siprec-control migrate`,
  options: {},
} as const;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  const config = requireConfig(io, spec.name);
  if (typeof config === 'number') return config;
  // Opening a ledger migrates it (under PostgreSQL's advisory lock); the ping proves it commits.
  const store = await openLedger(io, spec.name, config.storage, { mustExist: false });
  if (typeof store === 'number') return EXIT.failed;
  try {
    await store.ping();
    io.out(`${describeStorage(config.storage)}: schema is current\n`);
    return EXIT.ok;
  } catch (err) {
    io.err(`siprec-control migrate: migrated, but a test write failed: ${(err as Error).message}\n`);
    return EXIT.failed;
  } finally {
    await store.close();
  }
}
