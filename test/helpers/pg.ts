import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { PG_INSTALL_HINT } from '../../src/dev/pg-cluster';

/**
 * The run's PostgreSQL cluster (test/global-setup.ts), when PostgreSQL is installed. A suite that
 * needs it and finds none fails under CI=true, and otherwise skips, printing the install command.
 */
export const PG_ADMIN_URL = process.env.SIPREC_TEST_PG_URL;

export function postgresPlan(): { run: true } | { run: false; mustFail: boolean; message: string } {
  if (PG_ADMIN_URL) return { run: true };
  return { run: false, mustFail: process.env.CI === 'true', message: `PostgreSQL is not installed (${PG_INSTALL_HINT})` };
}

export function describeWithPostgres(name: string, body: () => void): void {
  const plan = postgresPlan();
  if (plan.run) return describe(name, body);
  describe(name, () => {
    it(`SKIPPED, ${plan.message}`, () => {
      if (plan.mustFail) throw new Error(`CI=true and ${plan.message}`);
      console.warn(`SKIPPED "${name}": ${plan.message}`);
      expect(PG_ADMIN_URL).toBeUndefined();
    });
  });
}

export interface PgDatabase {
  url: string;
  name: string;
  drop: () => Promise<void>;
}

/** A new, empty database in the run's cluster; drop() removes it (closing whatever is still connected). */
export async function freshPgDatabase(): Promise<PgDatabase> {
  if (!PG_ADMIN_URL) throw new Error('no PostgreSQL for this run: ' + PG_INSTALL_HINT);
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    name,
    drop: async () => {
      const a = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
