import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import type { Config } from './config';
import { errorHandler, HttpError, notFound } from './http/errors';
import { parseForm, requireForm } from './http/form-body';
import { requestLog } from './http/request-log';
import type { Metrics } from './metrics';
import { healthRoutes } from './routes/health';
import { statusCallbackRoute } from './routes/status-callback';
import { stopTwimlRoute } from './routes/stop-twiml';
import { voiceRoute } from './routes/voice';
import type { Store } from './store/store';
import { twilioSignature } from './twilio/signature';

export interface AppDeps {
  config: Config;
  store: Store;
  logger: Logger;
  metrics: Metrics;
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
  const app = express();
  app.disable('x-powered-by');
  app.use(helmet());
  app.use(requestLog(logger));
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
  twilioRoutes.all('/voice', voiceRoute({ config, store, metrics, logger, clock }));
  twilioRoutes.all('/siprec-status', statusCallbackRoute({ store, clock }));
  twilioRoutes.all('/siprec-stop', stopTwimlRoute({ config, store, metrics, clock }));
  app.use('/twilio', twilioRoutes);

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}
