import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config';
import { SIPREC_NAME } from '../config/routes';
import { redactParameterList } from '../domain/privacy';
import { ledgerNameOf, MAX_OPEN_SESSIONS_PER_CALL } from '../domain/sessions';
import { HttpError, LEDGER_RETRY_AFTER } from '../http/errors';
import { cursorSigner } from '../store/cursor';
import {
  SESSION_STATES,
  StoreUnavailableError,
  type CallDetail,
  type NewCall,
  type ReserveResult,
  type Store,
} from '../store/store';
import { TwilioApiError, type SiprecApi } from '../twilio/rest';
import { statusCallbackUrl } from '../twilio/twiml';
import { pageLimit, parseInput } from './input';
import { readOverview } from './overview';
import { searchFields, searchQuery } from './session-search';
import { NAME_RULE, startBody } from './start-body';
import { CALL_SID } from './twilio-input';

export interface AdminApiDeps {
  config: Config;
  store: Store;
  siprecApi: SiprecApi;
  clock: () => number;
}

export const ADMIN_JSON_LIMIT = '64kb';

const callSidParam = z.string().regex(CALL_SID, 'callSid must be CA followed by 32 lowercase hex digits');
// A SIPREC SID (SR + 32 hex) also fits the name rule: Twilio's stop accepts either.
const nameParam = z.string().regex(SIPREC_NAME, `name ${NAME_RULE}`);

const sessionsQuery = z.strictObject({
  state: z.enum(SESSION_STATES, { error: `state must be one of ${SESSION_STATES.join(', ')}` }).optional(),
  callSid: z.string({ error: 'callSid must be given once' }).regex(CALL_SID, 'callSid must be CA followed by 32 lowercase hex digits').optional(),
  connectorName: z
    .string({ error: 'connectorName must be given once' })
    .min(1, 'connectorName must not be empty')
    .max(128, 'connectorName must be at most 128 characters')
    .optional(),
  ...searchFields,
  limit: pageLimit,
  cursor: z.string({ error: 'cursor must be given once' }).min(1, 'cursor must not be empty').max(200, 'cursor is not valid').optional(),
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

/**
 * A ledger step whose failure must say what already happened at Twilio (asked or not, started or
 * stopped): the 503 carries that. Every other store failure becomes its 503 (or 400) in errorReply.
 */
async function ledgerStep<T>(unavailable: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw new HttpError(503, unavailable, { cause: err, headers: LEDGER_RETRY_AFTER });
    throw err;
  }
}

const twilioDetails = (err: TwilioApiError) => [{ twilioStatus: err.status, twilioCode: err.code, twilioMessage: err.message }];

/** Twilio's refusals as 404/409/502, never a 500; anything else as it is. `what` names the target for the 404. */
function twilioFailure(what: string, err: unknown): unknown {
  if (!(err instanceof TwilioApiError)) return err;
  const details = twilioDetails(err);
  if (err.kind === 'not-found') return new HttpError(404, `Twilio does not know ${what}; nothing was recorded`, { cause: err, details });
  // Our own configuration is wrong, not the operator's request: a failed upstream, and what to fix.
  if (err.kind === 'unauthorized') {
    const check = 'check TWILIO_ACCOUNT_SID, and TWILIO_AUTH_TOKEN or the API key (TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET)';
    return new HttpError(502, `Twilio refused our credentials: ${check}; nothing was recorded`, { cause: err, details });
  }
  if (err.kind === 'rejected') return new HttpError(409, 'Twilio refused the request; nothing was recorded', { cause: err, details });
  return new HttpError(502, 'Twilio could not be reached or failed; nothing was recorded, try again', { cause: err, details });
}

/** Asks Twilio, with its refusals as twilioFailure gives them. */
async function twilioCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw twilioFailure(what, err);
  }
}

// The request never left: nothing can have started on Twilio.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * No answer came after the request may have reached Twilio (a timeout, a reset, a 2xx that was not a
 * Siprec resource): Twilio may be recording. Any answer from Twilio, even a 5xx, says it did not start.
 */
function twilioMayHaveStarted(err: TwilioApiError): boolean {
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return err.kind === 'unavailable' && err.status === null && !(typeof code === 'string' && NOT_SENT.has(code));
}

function refusedStart(callSid: string, name: string, refusal: Extract<ReserveResult, { reserved: false }>): HttpError {
  if (refusal.reason === 'name-taken') {
    return new HttpError(409, `call ${callSid} already has a SIPREC session named "${name}"; Twilio needs a name unique per call`);
  }
  const { open } = refusal;
  return new HttpError(409, `call ${callSid} already has ${open.length} open SIPREC sessions (at most ${MAX_OPEN_SESSIONS_PER_CALL}); stop one first`, {
    details: open.map((s) => ({ name: s.name, state: s.state })),
  });
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
    events: s.events.map((e) => ({
      event: e.event,
      timestamp: e.timestamp,
      // The ledger's reading of it (null: not a real time): the page orders and shows events by this.
      occurredAt: e.occurredAt,
      receivedAt: e.receivedAt,
      // Twilio's Timestamp is kept as sent and used; this says it is over a day from when it arrived.
      timestampSkewed: e.timestampSkewed,
      errorCode: e.errorCode,
      errorMessage: e.errorMessage,
      payload: e.payload,
    })),
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
    const detail = await ledgerStep(unavailable, () => store.getCall(callSid));
    const session = detail?.sessions.find((s) => s.name === name);
    if (!session) throw new Error(`session ${name} of ${callSid} vanished right after it was written`);
    return toApiSession(session);
  };

  router.get('/calls/:callSid', async function getCall(req, res) {
    const callSid = parseInput(callSidParam, req.params.callSid, 'callSid');
    const detail = await store.getCall(callSid);
    if (!detail) throw new HttpError(404, `call ${callSid} is not in the ledger`);
    res.json({ call: detail.call, sessions: detail.sessions.map(toApiSession) });
  });

  // Cursors are signed with a key derived from ADMIN_TOKEN, which every instance shares already: page 2
  // opens on any instance and after a restart, and a cursor nobody issued is refused (400).
  const cursors = cursorSigner(config.adminToken);

  router.get('/sessions', async function listSessions(req, res) {
    const query = searchQuery(parseInput(sessionsQuery, req.query, 'query'), config.storeCallerNumbers);
    const page = await store.listSessions({ ...query, cursor: query.cursor === undefined ? undefined : cursors.open(query.cursor) });
    res.json({ ...page, nextCursor: page.nextCursor === null ? null : cursors.sign(page.nextCursor) });
  });

  router.get('/overview', async function getOverview(_req, res) {
    res.json(await readOverview(store, config, clock()));
  });

  router.get('/stats', async function getStats(_req, res) {
    res.json(await store.getStats(clock()));
  });

  router.post('/calls/:callSid/siprec', async function startSiprec(req, res) {
    const callSid = parseInput(callSidParam, req.params.callSid, 'callSid');
    const body = parseInput(startBody, req.body, 'request body');

    // Twilio gets the values as given; the ledger keeps what STORE_CALLER_NUMBERS allows.
    const session = { name: body.name, connectorName: body.connectorName, track: body.track, parameters: redactParameterList(body.parameters, config.storeCallerNumbers) };

    // The slot before Twilio: the name and the open-session limit are checked and taken in one write,
    // so starts sent together cannot all see a free slot, and Twilio is never asked for a refused one.
    const reservedAt = clock();
    const taken = await ledgerStep('the ledger is unavailable; Twilio was not asked; try again shortly', () =>
      store.reserveStart(newCall(callSid, reservedAt), session, MAX_OPEN_SESSIONS_PER_CALL),
    );
    if (!taken.reserved) throw refusedStart(callSid, body.name, taken);

    let started;
    try {
      started = await siprecApi.start(callSid, {
        connectorName: body.connectorName,
        name: body.name,
        track: body.track,
        statusCallback: statusCallbackUrl(config.publicBaseUrl),
        statusCallbackMethod: 'POST',
        parameters: body.parameters,
      });
    } catch (err) {
      if (err instanceof TwilioApiError && twilioMayHaveStarted(err)) {
        // A compliance recorder must not forget a session that may be recording: the reservation
        // stays, holding the name and the slot, until its status callback or a stop settles it.
        req.log.warn({ callSid, name: body.name, err: err.message }, 'SIPREC start: no answer from Twilio; the reservation is kept as requested');
        throw new HttpError(
          502,
          `Twilio did not answer (${err.message}); it may have started SIPREC "${body.name}": the ledger keeps it as requested, ` +
            'holding its name and slot, until its status callback arrives; stop it by name if it must not run',
          { cause: err, details: twilioDetails(err) },
        );
      }
      const given = await store.releaseStart(taken.reservation).then(
        (released) => (released ? 'released' : 'kept'),
        (releaseErr: unknown) => {
          req.log.error({ err: releaseErr, callSid, name: body.name }, 'SIPREC start refused, but its ledger reservation could not be given back');
          return 'failed';
        },
      );
      if (given === 'failed') {
        throw new HttpError(503, `Twilio did not start SIPREC "${body.name}", but the ledger could not give back its reservation: it stays requested until stopped`, { cause: err });
      }
      if (given === 'kept') {
        // Twilio called back (or a stop reached it) before its refusal arrived: the session exists for
        // Twilio after all, and what its callbacks recorded stays. Saying "nothing was recorded" would be false.
        req.log.warn({ err, callSid, name: body.name }, 'SIPREC start answered with an error, but a callback or a stop for it had arrived: kept');
        const said = err instanceof Error ? err.message : String(err);
        throw new HttpError(
          502,
          `Twilio answered the start with an error (${said}), but a status callback or a stop for SIPREC "${body.name}" arrived meanwhile: ` +
            'the ledger keeps it as they recorded it; check it with GET on the call',
          { cause: err, details: err instanceof TwilioApiError ? twilioDetails(err) : undefined },
        );
      }
      throw twilioFailure(`call ${callSid} (it may have ended)`, err);
    }
    // Twilio is recording now and the reservation is in the ledger: a failure to add the SID must say
    // so, and the status callbacks (found by name) will complete the session.
    const unrecorded = `SIPREC ${started.sid} started on Twilio but the ledger could not record its SID; it is in the ledger as requested, and its status callbacks will complete it`;
    const at = clock();
    await ledgerStep(unrecorded, () => store.recordStarted(newCall(callSid, at), { ...session, siprecSid: started.sid }, at));
    res.status(201).location(`${req.baseUrl}/calls/${callSid}`).json(await sessionOf(callSid, body.name, unrecorded));
  });

  router.post('/calls/:callSid/siprec/:name/stop', async function stopSiprec(req, res) {
    const callSid = parseInput(callSidParam, req.params.callSid, 'callSid');
    const name = parseInput(nameParam, req.params.name, 'name');

    // Twilio first: a session started elsewhere is unknown to the ledger but may well be live.
    const stopped = await twilioCall(`call ${callSid} or its SIPREC session "${name}"`, () => siprecApi.stop(callSid, name));
    const unrecorded = `SIPREC ${stopped.sid} was stopped on Twilio but the ledger could not record it; its status callback will`;
    const detail = await ledgerStep(unrecorded, () => store.getCall(callSid));
    // The operator may have addressed it by SID, and Twilio's answer says which session it stopped: the
    // ledger keys sessions by name, and one holding another SID must not be marked (its slot would free).
    const reportedName = stopped.name === stopped.sid && name !== stopped.sid ? name : stopped.name;
    const ledgerName = ledgerNameOf(detail?.sessions ?? [], stopped.sid, reportedName);
    const at = clock();
    await ledgerStep(unrecorded, () => store.markStopRequested(newCall(callSid, at), [ledgerName], at));
    res.status(202).json(await sessionOf(callSid, ledgerName, unrecorded));
  });

  return router;
}
