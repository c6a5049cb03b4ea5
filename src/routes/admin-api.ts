import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config';
import { SIPREC_NAME } from '../config/routes';
import { redactParameterList } from '../domain/privacy';
import { MAX_PARAMETER_LENGTH, TRACKS } from '../domain/routing';
import { HttpError } from '../http/errors';
import {
  InvalidCursorError,
  SESSION_STATES,
  StoreUnavailableError,
  type CallDetail,
  type NewCall,
  type Store,
} from '../store/store';
import { MAX_REST_PARAMETERS, TwilioApiError, type SiprecApi } from '../twilio/rest';
import { statusCallbackUrl } from '../twilio/twiml';
import { pageLimit, parseInput } from './input';
import { readOverview } from './overview';
import { searchFields, searchQuery } from './session-search';
import { CALL_SID } from './twilio-input';

export interface AdminApiDeps {
  config: Config;
  store: Store;
  siprecApi: SiprecApi;
  clock: () => number;
}

/** Each `<Siprec>` forks two streams and Twilio allows four per call. */
export const MAX_OPEN_SESSIONS_PER_CALL = 2;
export const ADMIN_JSON_LIMIT = '64kb';

// Control characters are never intended in a connector or parameter and Twilio would refuse them.
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
const NAME_RULE = 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -';

const callSidParam = z.string().regex(CALL_SID, 'callSid must be CA followed by 32 lowercase hex digits');
// A SIPREC SID (SR + 32 hex) also fits the name rule: Twilio's stop accepts either.
const nameParam = z.string().regex(SIPREC_NAME, `name ${NAME_RULE}`);

const sessionsQuery = z.strictObject({
  state: z.enum(SESSION_STATES, { error: `state must be one of ${SESSION_STATES.join(', ')}` }).optional(),
  callSid: z.string({ error: 'callSid must be given once' }).regex(CALL_SID, 'callSid must be CA followed by 32 lowercase hex digits').optional(),
  connectorName: z.string({ error: 'connectorName must be given once' }).min(1).max(128).optional(),
  ...searchFields,
  limit: pageLimit,
  cursor: z.string({ error: 'cursor must be given once' }).min(1).max(200, 'cursor is not valid').optional(),
});

const startBody = z
  .strictObject(
    {
      connectorName: z
        .string({ error: 'connectorName is required and must be a string' })
        .min(1, 'connectorName must not be empty')
        .max(128, 'connectorName must be at most 128 characters')
        .regex(NO_CONTROL, 'connectorName must not contain control characters'),
      name: z.string({ error: 'name must be a string' }).regex(SIPREC_NAME, `name ${NAME_RULE}`).optional(),
      track: z.enum(TRACKS, { error: `track must be one of ${TRACKS.join(', ')}` }).default('inbound_track'),
      parameters: z
        .record(
          z.string().min(1, 'a parameter name must not be empty').regex(NO_CONTROL, 'a parameter name must not contain control characters'),
          z.string({ error: 'a parameter value must be a string' }),
        )
        .default({})
        .superRefine((params, ctx) => {
          const entries = Object.entries(params);
          if (entries.length > MAX_REST_PARAMETERS) {
            ctx.addIssue({ code: 'custom', message: `at most ${MAX_REST_PARAMETERS} parameters` });
          }
          for (const [name, value] of entries) {
            if (name.length + value.length > MAX_PARAMETER_LENGTH) {
              ctx.addIssue({ code: 'custom', path: [name], message: 'name plus value must stay under 500 characters' });
            }
            if (!NO_CONTROL.test(value)) ctx.addIssue({ code: 'custom', path: [name], message: 'value must not contain control characters' });
          }
        }),
    },
    { error: (i) => (i.code === 'unrecognized_keys' ? undefined : 'request body must be a JSON object') },
  )
  .transform((b, ctx) => {
    const name = b.name ?? b.connectorName;
    if (!SIPREC_NAME.test(name)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `name defaults to connectorName, which ${NAME_RULE}: give a name` });
      return z.NEVER;
    }
    return { ...b, name, parameters: Object.entries(b.parameters).map(([n, value]) => ({ name: n, value })) };
  });

/** Refuses a POST body that is not JSON with 415, before it is read. */
const requireJson: RequestHandler = function requireJson(req, _res, next) {
  const hasBody = req.get('content-length') !== undefined ? req.get('content-length') !== '0' : req.get('transfer-encoding') !== undefined;
  if (req.method === 'POST' && hasBody && !req.is('application/json')) {
    throw new HttpError(415, 'request body must be application/json');
  }
  next();
};

const noStore: RequestHandler = function noStore(_req, res, next) {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

/** Reads or writes the ledger; a ledger that cannot answer is a 503, a foreign cursor a 400. */
async function ledger<T>(fn: () => Promise<T>, unavailable = 'the ledger is unavailable; try again shortly'): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof InvalidCursorError) throw new HttpError(400, err.message, { cause: err });
    if (err instanceof StoreUnavailableError) throw new HttpError(503, unavailable, { cause: err });
    throw err;
  }
}

/** Asks Twilio; its refusals become 404/409/502, never a 500. `what` names the target for the 404. */
async function twilioCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof TwilioApiError)) throw err;
    const details = [{ twilioStatus: err.status, twilioCode: err.code, twilioMessage: err.message }];
    if (err.kind === 'not-found') throw new HttpError(404, `Twilio does not know ${what}; nothing was recorded`, { cause: err, details });
    // Our own configuration is wrong, not the operator's request: a failed upstream, and what to fix.
    if (err.kind === 'unauthorized') {
      const check = 'check TWILIO_ACCOUNT_SID, and TWILIO_AUTH_TOKEN or the API key (TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET)';
      throw new HttpError(502, `Twilio refused our credentials: ${check}; nothing was recorded`, { cause: err, details });
    }
    if (err.kind === 'rejected') throw new HttpError(409, 'Twilio refused the request; nothing was recorded', { cause: err, details });
    throw new HttpError(502, 'Twilio could not be reached or failed; nothing was recorded, try again', { cause: err, details });
  }
}

type ApiSession = ReturnType<typeof toApiSession>;

/** The operator API's session: the ledger's view without the callSid it is nested under. */
function toApiSession(s: CallDetail['sessions'][number]) {
  return {
    name: s.name,
    siprecSid: s.siprecSid,
    connectorName: s.connectorName,
    track: s.track,
    state: s.state,
    requestedAt: s.requestedAt,
    startedAt: s.startedAt,
    stoppedAt: s.stoppedAt,
    stopRequestedAt: s.stopRequestedAt,
    errorCode: s.errorCode,
    errorMessage: s.errorMessage,
    // payload: every parameter Twilio sent, so an event Twilio adds later is readable here too.
    events: s.events.map((e) => ({ event: e.event, timestamp: e.timestamp, receivedAt: e.receivedAt, errorCode: e.errorCode, errorMessage: e.errorMessage, payload: e.payload })),
  };
}

export function adminApiRoutes({ config, store, siprecApi, clock }: AdminApiDeps): Router {
  const router = express.Router();
  router.use(noStore, requireJson, express.json({ limit: ADMIN_JSON_LIMIT }));

  const newCall = (callSid: string, at: number): NewCall => ({
    callSid,
    accountSid: config.twilio.accountSid,
    from: null,
    to: null,
    direction: null,
    receivedAt: at,
  });

  const sessionOf = async (callSid: string, name: string, unavailable: string): Promise<ApiSession> => {
    const detail = await ledger(() => store.getCall(callSid), unavailable);
    const session = detail?.sessions.find((s) => s.name === name);
    if (!session) throw new Error(`session ${name} of ${callSid} vanished right after it was written`);
    return toApiSession(session);
  };

  router.get('/calls/:callSid', async function getCall(req, res) {
    const callSid = parseInput(callSidParam, req.params.callSid, 'callSid');
    const detail = await ledger(() => store.getCall(callSid));
    if (!detail) throw new HttpError(404, `call ${callSid} is not in the ledger`);
    res.json({ call: detail.call, sessions: detail.sessions.map(toApiSession) });
  });

  router.get('/sessions', async function listSessions(req, res) {
    const query = searchQuery(parseInput(sessionsQuery, req.query, 'query'), config.storeCallerNumbers);
    res.json(await ledger(() => store.listSessions(query)));
  });

  router.get('/overview', async function getOverview(_req, res) {
    res.json(await ledger(() => readOverview(store, config, clock())));
  });

  router.get('/stats', async function getStats(_req, res) {
    res.json(await ledger(() => store.getStats(clock())));
  });

  router.post('/calls/:callSid/siprec', async function startSiprec(req, res) {
    const callSid = parseInput(callSidParam, req.params.callSid, 'callSid');
    const body = parseInput(startBody, req.body, 'request body');

    const existing = await ledger(() => store.getCall(callSid));
    if (existing?.sessions.some((s) => s.name === body.name)) {
      throw new HttpError(409, `call ${callSid} already has a SIPREC session named "${body.name}"; Twilio needs a name unique per call`);
    }
    const open = await ledger(() => store.openSessions(callSid));
    if (open.length >= MAX_OPEN_SESSIONS_PER_CALL) {
      throw new HttpError(409, `call ${callSid} already has ${open.length} open SIPREC sessions (at most ${MAX_OPEN_SESSIONS_PER_CALL}); stop one first`, {
        details: open.map((s) => ({ name: s.name, state: s.state })),
      });
    }

    const started = await twilioCall(`call ${callSid} (it may have ended)`, () =>
      siprecApi.start(callSid, {
        connectorName: body.connectorName,
        name: body.name,
        track: body.track,
        statusCallback: statusCallbackUrl(config.publicBaseUrl),
        statusCallbackMethod: 'POST',
        parameters: body.parameters,
      }),
    );
    // Twilio is recording now: a ledger failure must say so, and the status callbacks will record it.
    const unrecorded = `SIPREC ${started.sid} started on Twilio but the ledger could not record it; its status callbacks will`;
    const at = clock();
    await ledger(
      () =>
        store.recordStarted(
          newCall(callSid, at),
          // Twilio got the values as given; the ledger keeps what STORE_CALLER_NUMBERS allows.
          { name: body.name, connectorName: body.connectorName, track: body.track, parameters: redactParameterList(body.parameters, config.storeCallerNumbers), siprecSid: started.sid },
          at,
        ),
      unrecorded,
    );
    res.status(201).location(`${req.baseUrl}/calls/${callSid}`).json(await sessionOf(callSid, body.name, unrecorded));
  });

  router.post('/calls/:callSid/siprec/:name/stop', async function stopSiprec(req, res) {
    const callSid = parseInput(callSidParam, req.params.callSid, 'callSid');
    const name = parseInput(nameParam, req.params.name, 'name');

    // Twilio first: a session started elsewhere is unknown to the ledger but may well be live.
    const stopped = await twilioCall(`call ${callSid} or its SIPREC session "${name}"`, () => siprecApi.stop(callSid, name));
    const unrecorded = `SIPREC ${stopped.sid} was stopped on Twilio but the ledger could not record it; its status callback will`;
    const detail = await ledger(() => store.getCall(callSid), unrecorded);
    // The operator may have addressed it by SID; the ledger keys sessions by name.
    const known = detail?.sessions.find((s) => s.name === name) ?? detail?.sessions.find((s) => s.siprecSid === stopped.sid);
    const ledgerName = known?.name ?? stopped.name;
    const at = clock();
    await ledger(() => store.markStopRequested(newCall(callSid, at), [ledgerName], at), unrecorded);
    res.status(202).json(await sessionOf(callSid, ledgerName, unrecorded));
  });

  return router;
}
