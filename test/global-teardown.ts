import type { PgCluster } from '../src/dev/pg-cluster';

export default function globalTeardown(): void {
  (globalThis as { __siprecPg?: PgCluster }).__siprecPg?.destroy();
}
