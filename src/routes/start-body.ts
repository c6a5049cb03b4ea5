import { z } from 'zod';
import { SIPREC_NAME } from '../config/routes';
import { MAX_PARAMETER_LENGTH, TRACKS } from '../domain/routing';
import { NO_CONTROL } from '../domain/text';
import { MAX_REST_PARAMETERS } from '../twilio/rest';

export const NAME_RULE = 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -';
// The ledger files a session by its SID when it has no name, or when its name holds another SID
// (store/sqlite/writes.ts): a session started under a SID-shaped name would take that place, and the
// callbacks of the session whose SID it is could then be filed nowhere.
const SID_SHAPED = /^SR[0-9a-f]{32}$/i;
const SID_SHAPED_RULE = 'must not be shaped like a SIPREC SID (SR and 32 hex digits): the ledger keeps such names for sessions filed by SID';

/**
 * `parameters`: a JSON object of name → string, read by its own keys. zod's record skips a key named
 * `__proto__` (which JSON.parse makes an own property), so such a parameter used to vanish and its
 * value went unchecked; here every own key is seen, and `__proto__` is refused by name.
 */
const parameterList = z
  .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
    error: 'parameters must be an object of name → string',
  })
  .transform((params, ctx) => {
    const entries = Object.entries(params);
    if (entries.length > MAX_REST_PARAMETERS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_REST_PARAMETERS} parameters` });
    const list: Array<{ name: string; value: string }> = [];
    for (const [name, value] of entries) {
      const problem = (message: string) => ctx.addIssue({ code: 'custom', path: [name], message });
      if (name === '__proto__') problem('a parameter must not be named __proto__');
      else if (name === '') problem('a parameter name must not be empty');
      else if (!NO_CONTROL.test(name)) problem('a parameter name must not contain control characters');
      else if (typeof value !== 'string') problem('a parameter value must be a string');
      else if (name.length + value.length > MAX_PARAMETER_LENGTH) problem('name plus value must stay under 500 characters');
      else if (!NO_CONTROL.test(value)) problem('value must not contain control characters');
      else list.push({ name, value });
    }
    return list;
  });

/** The body of POST /api/calls/:callSid/siprec, with `name` defaulted and `parameters` as a list. */
export const startBody = z
  .strictObject(
    {
      connectorName: z
        .string({ error: 'connectorName is required and must be a string' })
        .min(1, 'connectorName must not be empty')
        .max(128, 'connectorName must be at most 128 characters')
        .regex(NO_CONTROL, 'connectorName must not contain control characters'),
      name: z.string({ error: 'name must be a string' }).regex(SIPREC_NAME, `name ${NAME_RULE}`).optional(),
      track: z.enum(TRACKS, { error: `track must be one of ${TRACKS.join(', ')}` }).default('inbound_track'),
      parameters: parameterList.optional(),
    },
    { error: (i) => (i.code === 'unrecognized_keys' ? undefined : 'request body must be a JSON object') },
  )
  .transform((b, ctx) => {
    const name = b.name ?? b.connectorName;
    if (!SIPREC_NAME.test(name)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `name defaults to connectorName, which ${NAME_RULE}: give a name` });
      return z.NEVER;
    }
    if (SID_SHAPED.test(name)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: b.name === undefined ? `name defaults to connectorName, which ${SID_SHAPED_RULE}: give a name` : `name ${SID_SHAPED_RULE}` });
      return z.NEVER;
    }
    return { ...b, name, parameters: b.parameters ?? [] };
  });
