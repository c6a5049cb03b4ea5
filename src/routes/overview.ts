import type { Config } from '../config';
import type { Store } from '../store/store';

/**
 * GET /api/overview: what the status page shows beside the stats. Sessions count as stuck once
 * they have waited for siprec-started as long as the start-timeout alert waits
 * (ALERT_START_TIMEOUT_SECONDS), so the tile and the alert agree.
 */
export async function readOverview(store: Store, config: Config, now: number) {
  const olderThanSeconds = config.alerts.startTimeoutSeconds;
  const [stuck, connectors] = await Promise.all([store.stuckRequested(now - olderThanSeconds * 1000), store.connectorSummary(now)]);
  return {
    stuckRequested: { ...stuck, olderThanSeconds },
    connectors,
    // What GET /api/sessions?phone= can match: full numbers, masked ones, or none at all.
    search: { phone: config.storeCallerNumbers },
  };
}
