import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError, loadConfig, type Config, type StorageConfig } from '../config';
import { describeStorage, openStore, type LedgerLog } from '../store';
import type { Store } from '../store/store';
import type { CliIo } from './args';

export type CliConfig =
  | { ok: true; config: Config; envFile: string | null }
  | { ok: false; problems: string[]; envFile: string | null };

/**
 * The configuration exactly as the server would load it: the environment, then `.env` in the working
 * folder for whatever the environment leaves unset (as main.ts does with process.loadEnvFile).
 */
export function loadCliConfig(io: CliIo): CliConfig {
  const file = path.join(io.cwd, '.env');
  const envFile = existsSync(file) ? file : null;
  const fromFile = envFile ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  try {
    return { ok: true, config: loadConfig({ ...fromFile, ...io.env }, io.cwd), envFile };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, problems: err.problems, envFile };
    throw err;
  }
}

/** Loads the config or prints its problems (never a secret: ConfigError carries none) and returns 1. */
export function requireConfig(io: CliIo, command: string): Config | number {
  const loaded = loadCliConfig(io);
  if (loaded.ok) return loaded.config;
  io.err(`siprec-control ${command}: invalid configuration${loaded.envFile ? ` (environment and ${loaded.envFile})` : ''}:\n${loaded.problems.map((p) => `  - ${p}\n`).join('')}Run siprec-control check-config for details.\n`);
  return 1;
}

/**
 * For commands that work on an existing ledger: opening a missing DATABASE_PATH would create an
 * empty database there, and a typo would then "succeed" against nothing (purged 0). Prints why and
 * returns 1, or returns undefined when the file is there.
 */
export function requireExistingLedger(io: CliIo, command: string, databasePath: string): number | undefined {
  if (existsSync(databasePath)) return undefined;
  io.err(`siprec-control ${command}: no ledger at DATABASE_PATH ${databasePath}: check the path (the server creates the file on its first start; this command never does)\n`);
  return 1;
}

/**
 * Opens the configured ledger for a one-shot command (SQLite on this thread; PostgreSQL with one
 * connection attempt), or prints why it cannot (host and port, never the password) and returns 1.
 */
export async function openLedger(io: CliIo, command: string, storage: StorageConfig, options: { mustExist?: boolean } = {}): Promise<Store | number> {
  try {
    return await openStore(storage, { log: quietLog(io), mode: 'cli', ...options });
  } catch (err) {
    io.err(`siprec-control ${command}: cannot open the ledger at ${describeStorage(storage)}: ${(err as Error).message}\n`);
    return 1;
  }
}

/** A one-shot command says what went wrong itself; the store's warnings go to stderr as lines. */
function quietLog(io: CliIo): LedgerLog {
  const line = (obj: object, msg: string) => io.err(`${msg} ${JSON.stringify(obj)}\n`);
  return { error: line, warn: line, info: () => undefined };
}
