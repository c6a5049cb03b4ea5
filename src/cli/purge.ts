import { parseAge } from '../retention';
import { EXIT, parseCommand, usageError, type CliIo } from './args';
import { loadCliConfig, openLedger, requireExistingLedger } from './config';

const spec = {
  name: 'purge',
  usage: `Usage: siprec-control purge [--older-than <age>]

Deletes calls with no activity for longer than <age> (e.g. 90d, 36h) with their SIPREC sessions and
events, and alerts of the same age no longer waiting for delivery, from DATABASE_PATH. A call with a
requested or active session is kept until it has been idle 25 hours. Works in batches that each commit
on their own, so a running server keeps taking callbacks meanwhile. Without --older-than,
RETENTION_DAYS is used.

Example:
  siprec-control purge --older-than 90d`,
  options: { 'older-than': { type: 'string' } },
} as const;

const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  const loaded = loadCliConfig(io);
  if (!loaded.ok) {
    io.err(`configuration has problems:\n${loaded.problems.map((p) => `  - ${p}\n`).join('')}`);
    return EXIT.failed;
  }
  const given = values['older-than'];
  const ageMs = given !== undefined ? parseAge(given) : loaded.config.retentionDays ? loaded.config.retentionDays * 86_400_000 : null;
  if (ageMs === null) {
    return usageError(spec, io, given !== undefined ? `--older-than must be a positive age such as 90d, 36h or 45m, not "${given}"` : 'give --older-than, or set RETENTION_DAYS');
  }
  const { storage } = loaded.config;
  const missing = storage.kind === 'sqlite' ? requireExistingLedger(io, spec.name, storage.path) : undefined;
  if (missing !== undefined) return missing;
  const cutoff = Date.now() - ageMs;
  const store = await openLedger(io, spec.name, storage);
  if (typeof store === 'number') return store;
  try {
    const r = await store.purgeOlderThan(cutoff);
    io.out(
      `purged ${count(r.calls, 'call')}, ${count(r.sessions, 'session')}, ${count(r.events, 'event')} and ${count(r.alerts, 'alert')} with no activity since ${new Date(cutoff).toISOString()} (${count(r.batches, 'batch', 'batches')})\n`,
    );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
