import type { RequestListener } from 'node:http';
import express from 'express';
import type { Logger } from 'pino';
import { alertPolicy } from './alerts';
import type { Config } from './config';
import { adminAuth, authChallenge, carriesAdminToken } from './http/admin-auth';
import { authRateLimit } from './http/auth-rate-limit';
import { errorHandler, notFound } from './http/errors';
import { requestLog } from './http/request-log';
import { sameOriginWrites } from './http/same-origin';
import { securityHeaders } from './http/security-headers';
import { isTwilioPath, twilioWebhooks } from './http/twilio-webhooks';
import { instrumentSiprecApi, type Metrics } from './metrics';
import { adminApiRoutes } from './routes/admin-api';
import { alertsApiRoutes } from './routes/alerts-api';
import { healthRoutes } from './routes/health';
import { metricsRoute, requestMetrics } from './routes/metrics';
import { statusCallbackRoute } from './routes/status-callback';
import { statusPage } from './routes/status-page';
import { stopTwimlRoute } from './routes/stop-twiml';
import { voiceRoute } from './routes/voice';
import type { Store } from './store/store';
import type { SiprecApi } from './twilio/rest';
import { twilioSignatureGate } from './twilio/signature';

export interface AppDeps {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  siprecApi: SiprecApi;
  clock?: () => number;
}

/**
 * Builds the app without listening, so tests drive it through supertest with real dependencies.
 * Twilio's webhooks go to their own lean edge; everything people use (API, page, metrics) to Express.
 */
export function createApp(deps: AppDeps): RequestListener {
  const { config, store, logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const alerts = alertPolicy(config.alerts);
  const app = express();
  app.disable('x-powered-by');
  // Decides req.ip, and with it the sign-in rate limiter's key (TRUST_PROXY; off by default).
  // typeof, not Array.isArray: on a readonly array that narrows to any[].
  const { trustProxy } = config.http;
  app.set('trust proxy', typeof trustProxy === 'object' ? [...trustProxy] : trustProxy);
  app.use(securityHeaders(config.publicBaseUrl));
  app.use(requestLog(logger));
  app.use(requestMetrics(metrics));
  app.use(healthRoutes(store));

  // One limiter and one check for every operator surface, so failures anywhere count together.
  const isAdmin = carriesAdminToken(config.adminToken);
  const requireAdmin = express.Router().use(
    authRateLimit({ isAuthorized: (req) => isAdmin(req.get('authorization')), challenge: authChallenge(), logger }),
    adminAuth({ token: config.adminToken }),
  );
  app.use(
    '/api',
    // Before auth: a cross-site page gets neither a prompt nor a guess counted, and Twilio is never asked.
    sameOriginWrites({ publicBaseUrl: config.publicBaseUrl }),
    requireAdmin,
    adminApiRoutes({ config, store, siprecApi: instrumentSiprecApi(deps.siprecApi, metrics), clock }),
    alertsApiRoutes({ config, store }),
  );
  app.get('/metrics', requireAdmin, metricsRoute({ metrics, store, logger }));
  // Last before the 404: the page's own files, behind the same auth (the browser's Basic prompt).
  app.use(statusPage({ guard: requireAdmin }));

  app.use(notFound);
  app.use(errorHandler(logger));

  const webhooks = twilioWebhooks({
    routes: {
      '/twilio/voice': voiceRoute({ config, store, metrics, clock, alerts }),
      '/twilio/siprec-status': statusCallbackRoute({ store, clock, storeCallerNumbers: config.storeCallerNumbers, metrics, alerts }),
      '/twilio/siprec-stop': stopTwimlRoute({ config, store, metrics, clock, alerts }),
    },
    verify: twilioSignatureGate({
      authTokens: config.twilio.authTokens,
      publicBaseUrl: config.publicBaseUrl,
      accountSid: config.twilio.accountSid,
      onRejected: (reason, req) => {
        metrics.signatureFailures.inc({ reason });
        // The path only: a GET's query carries the caller's number.
        req.log().warn({ reason, path: req.originalUrl.split('?')[0] }, 'twilio request refused');
      },
    }),
    logger,
    metrics,
  });
  return function siprecControl(req, res) {
    if (isTwilioPath(req.url)) webhooks(req, res);
    else app(req, res);
  };
}
