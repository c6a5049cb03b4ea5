import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const TEST_ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
export const TEST_AUTH_TOKEN = 'test-auth-token-primary-0123456789';
export const TEST_AUTH_TOKEN_SECONDARY = 'test-auth-token-secondary-987654321';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const TEST_PUBLIC_BASE_URL = 'https://calls.example.com/siprec';

export const DEFAULT_TEST_ROUTES = {
  routes: [
    {
      to: ['+15550001111'],
      siprec: [
        { connectorName: 'Gridspace_1', name: 'gridspace', track: 'both_tracks', parameters: { Caller: '{From}', Team: 'sales' } },
        { connectorName: 'Compliance_SRS', name: 'compliance' },
      ],
      then: { redirect: 'https://ivr.example.com/voice' },
    },
    { siprec: [{ connectorName: 'Gridspace_1' }], then: { dial: '+15551230000' } },
  ],
};

export interface TempDir {
  dir: string;
  file(name: string): string;
  remove(): void;
}

export function tempDir(prefix = 'siprec-test-'): TempDir {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, file: (name) => path.join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A complete environment for the app, with the routes file written into `dir`. */
export function testEnv(dir: TempDir, routes: unknown = DEFAULT_TEST_ROUTES, extra: Record<string, string> = {}): Record<string, string> {
  const routesFile = dir.file('routes.json');
  writeFileSync(routesFile, typeof routes === 'string' ? routes : JSON.stringify(routes));
  return {
    TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
    PUBLIC_BASE_URL: TEST_PUBLIC_BASE_URL,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    DATABASE_PATH: dir.file('ledger.sqlite'),
    ROUTES_FILE: routesFile,
    LOG_LEVEL: 'silent',
    ...extra,
  };
}
