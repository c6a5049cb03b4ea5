import { Router } from 'express';
import type { Store } from '../store/store';

/** Liveness says the process answers; readiness says the ledger can take a write. */
export function healthRoutes(store: Store): Router {
  const router = Router();
  router.get('/healthz', function healthz(_req, res) {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async function readyz(req, res) {
    try {
      await store.ping();
      res.json({ status: 'ready' });
    } catch (err) {
      req.log.warn({ err }, 'not ready: database does not answer');
      res.status(503).json({ error: 'database is not available' });
    }
  });
  return router;
}
