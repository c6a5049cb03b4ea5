import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config';
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
