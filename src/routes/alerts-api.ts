import express, { type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config';
import type { Store } from '../store/store';
import { pageLimit, parseInput } from './input';

export interface AlertsApiDeps {
  config: Config;
  store: Store;
}

const alertsQuery = z.strictObject({
  limit: pageLimit,
});

/** GET /alerts: recent alerts, newest first, with their delivery state (mounted under /api, behind admin auth). */
export function alertsApiRoutes({ config, store }: AlertsApiDeps): Router {
  const router = express.Router();
  const delivery = { configured: Boolean(config.alerts.webhookUrl), signed: Boolean(config.alerts.webhookUrl && config.alerts.webhookSecret) };

  router.get('/alerts', async function listAlerts(req, res) {
    const { limit } = parseInput(alertsQuery, req.query, 'query');
    const alerts = await store.alerts.list(limit);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ delivery, alerts });
  });

  return router;
}
