import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { addressedRoute } from '../http/route-patterns';
import { countRequest, type Metrics } from '../metrics';
import { SESSION_STATES, type Store } from '../store/store';

/**
 * Makes `req` remember the full pattern of the route that matched, at the moment it matched.
 * Reading req.baseUrl + req.route.path at the end is not enough: Express restores req.baseUrl when
 * an error leaves a mounted router, so a 400 from /twilio/voice would be counted as "/voice".
 */
function rememberMatchedRoute(req: Request): () => string | undefined {
  let route: unknown = (req as { route?: unknown }).route;
  let pattern: string | undefined;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: unknown) {
      route = value;
      const path = (value as { path?: unknown } | undefined)?.path;
      pattern = typeof path === 'string' ? `${req.baseUrl}${path}` : undefined;
    },
  });
  return () => pattern;
}

/**
 * Counts and times every request by its route pattern and status. A request refused before its
 * route ran (the admin auth's 401, a 413 from the body parser, a 429) counts under the route it was
 * addressed to, so that a dashboard of /api/stats shows its refusals too; only a path no route has
 * is "unmatched". The pattern comes from the registered routes first, even when Express matched:
 * req.baseUrl keeps the caller's case (`/API/stats`), and a label must never be the caller's to
 * choose. The matched route is the fallback for a route route-patterns cannot read (a RegExp).
 */
export function requestMetrics(metrics: Pick<Metrics, 'httpRequests' | 'httpRequestDuration'>): RequestHandler {
  return function measureRequest(req, res, next) {
    const started = process.hrtime.bigint();
    const matchedRoute = rememberMatchedRoute(req);
    // Mounted at the root: this is the path as it came in, before routers strip their mount points.
    const path = req.path;
    res.once('finish', () => {
      const route = addressedRoute(req.app, req.method, path) ?? matchedRoute() ?? 'unmatched';
      countRequest(metrics, { route, method: req.method, status: String(res.statusCode) }, started);
    });
    next();
  };
}

export interface MetricsRouteDeps {
  metrics: Metrics;
  store: Store;
  logger: Logger;
}

/** GET /metrics in Prometheus text format; the session gauge is counted now, not kept up to date by every write. */
export function metricsRoute({ metrics, store, logger }: MetricsRouteDeps): RequestHandler {
  return async function scrapeMetrics(_req, res) {
    try {
      const counts = await store.countSessionsByState();
      for (const state of SESSION_STATES) metrics.sessions.set({ state }, counts[state]);
    } catch (err) {
      // A stale count would look true; no series tells Prometheus the value is unknown.
      metrics.sessions.reset();
      logger.warn({ err }, 'sessions gauge left out of this scrape: the ledger cannot be read');
    }
    res.setHeader('Cache-Control', 'no-store');
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
