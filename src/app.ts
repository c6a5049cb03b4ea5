import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { alertPolicy } from './alerts';
import type { Config } from './config';
import { adminAuth, carriesAdminToken } from './http/admin-auth';
import { authRateLimit } from './http/auth-rate-limit';
import { errorHandler, HttpError, notFound } from './http/errors';
import { parseForm, requireForm } from './http/form-body';
import { requestLog } from './http/request-log';
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
import { twilioSignature } from './twilio/signature';

export interface AppDeps {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  siprecApi: SiprecApi;
  clock?: () => number;
}

const onlyGetAndPost: express.RequestHandler = function onlyGetAndPost(req, res, next) {
  if (req.method === 'GET' || req.method === 'POST') return next();
  res.setHeader('Allow', 'GET, POST');
  throw new HttpError(405, `${req.method} is not allowed here; Twilio uses GET or POST`);
};

/** Builds the app without listening, so tests drive it through supertest with real dependencies. */
export function createApp(deps: AppDeps): Express {
  const { config, store, logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const alerts = alertPolicy(config.alerts);
  const app = express();
  app.disable('x-powered-by');
  app.use(helmet());
  app.use(requestLog(logger));
  app.use(requestMetrics(metrics));
  app.use(healthRoutes(store));

  const twilioRoutes = express.Router();
  twilioRoutes.use(onlyGetAndPost, requireForm, parseForm);
  twilioRoutes.use(
    twilioSignature({
      authTokens: config.twilio.authTokens,
      publicBaseUrl: config.publicBaseUrl,
      accountSid: config.twilio.accountSid,
      onRejected: (reason, req) => {
        metrics.signatureFailures.inc({ reason });
        req.log.warn({ reason, path: req.path }, 'twilio request refused');
      },
    }),
  );
  twilioRoutes.all('/voice', voiceRoute({ config, store, metrics, logger, clock, alerts }));
  twilioRoutes.all('/siprec-status', statusCallbackRoute({ store, clock, storeCallerNumbers: config.storeCallerNumbers, metrics, alerts }));
  twilioRoutes.all('/siprec-stop', stopTwimlRoute({ config, store, metrics, clock }));
  app.use('/twilio', twilioRoutes);

  // One limiter and one check for every operator surface, so failures anywhere count together.
  const isAdmin = carriesAdminToken(config.adminToken);
  const requireAdmin = express.Router().use(
    authRateLimit({ isAuthorized: (req) => isAdmin(req.get('authorization')) }),
    adminAuth({ token: config.adminToken }),
  );
  app.use(
    '/api',
    requireAdmin,
    adminApiRoutes({ config, store, siprecApi: instrumentSiprecApi(deps.siprecApi, metrics), clock }),
    alertsApiRoutes({ config, store }),
  );
  app.get('/metrics', requireAdmin, metricsRoute({ metrics, store, logger }));
  // Last before the 404: the page's own files, behind the same auth (the browser's Basic prompt).
  app.use(statusPage({ guard: requireAdmin }));

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}
