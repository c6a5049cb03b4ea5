import { z } from 'zod';
import { phoneNumberProblem } from '../domain/phone-number';
import { MAX_PARAMETER_LENGTH, TRACKS, unknownPlaceholders, type Route } from '../domain/routing';
import { NO_CONTROL } from '../domain/text';

export const SIPREC_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_RULE = '1-64 characters of A-Z, a-z, 0-9, _ or -';

const printable = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(NO_CONTROL, `${what} must not contain control characters`);

/**
 * A list whose size rule runs only on a list: zod's own .min/.max also run on a string (it has a
 * length), which added "at most 2 entries" to "expected array, received string".
 */
const list = <T extends z.ZodType>(item: T, typeMessage: string, min: [number, string], max?: [number, string]) =>
  z
    .array(item, { error: typeMessage })
    .refine((a) => a.length >= min[0], min[1])
    .refine((a) => max === undefined || a.length <= max[0], max?.[1]);

const phoneNumber = (what: string, formMessage: string) =>
  z.string({ error: `${what} must be a string` }).superRefine((v, ctx) => {
    const problem = phoneNumberProblem(v, formMessage);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const parameters = z
  .record(printable('a parameter name', 128), z.string({ error: 'a parameter value must be a string' }))
  .default({})
  .superRefine((params, ctx) => {
    for (const [name, value] of Object.entries(params)) {
      const unknown = unknownPlaceholders(value);
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `unknown placeholder ${unknown.map((u) => `{${u}}`).join(', ')}; known: {From}, {To}, {CallSid}, {AccountSid}, {Direction}, {CallerName}, {ForwardedFrom}`,
        });
      }
      if (name.length + value.length > MAX_PARAMETER_LENGTH) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'name plus value must stay under 500 characters' });
      }
      if (!NO_CONTROL.test(value)) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'value must not contain control characters' });
      }
    }
  });

// The name a session gets when it has none is checked with the other cross-entry rules below, so
// that a bad track in the same entry does not hide it until the next run.
const siprecTarget = z
  .strictObject({
    connectorName: printable('connectorName', 128),
    name: z.string({ error: 'name must be a string' }).regex(SIPREC_NAME, `name must be ${NAME_RULE}`).optional(),
    track: z.enum(TRACKS, { error: `track must be one of ${TRACKS.join(', ')}` }).default('inbound_track'),
    statusCallbackMethod: z.enum(['POST', 'GET'], { error: 'statusCallbackMethod must be POST or GET' }).default('POST'),
    parameters,
  })
  .transform((t) => ({ ...t, name: t.name ?? t.connectorName }));

const dialTarget = z.string({ error: 'then.dial must be a string' }).superRefine((v, ctx) => {
  if (/^sip:[^\s<>"]+$/i.test(v) || /^client:[A-Za-z0-9_.@-]{1,256}$/.test(v)) return;
  const problem = phoneNumberProblem(v, 'then.dial must be an E.164 number (+15551230000), a sip: URI or a client: identity');
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
// Twilio fetches the next TwiML from it with the call's details (numbers, CallSid) in the request.
// `https:host/path` parses as a URL but, resolved against our own URL, is a path on our host.
const httpsUrl = z.string({ error: 'must be an absolute https URL' }).superRefine((v, ctx) => {
  if (!/^https:\/\/[^/?#]/i.test(v) || !URL.canParse(v)) return void ctx.addIssue({ code: 'custom', message: 'must be an absolute https URL' });
  if (/\s/.test(v)) ctx.addIssue({ code: 'custom', message: 'must not contain white space' });
});

const continuation = z.union(
  [
    z.strictObject({ dial: dialTarget }),
    z.strictObject({ redirect: httpsUrl }),
    z.strictObject({ enqueue: printable('then.enqueue', 64) }),
  ],
  { error: 'then must be exactly one of { "dial": … }, { "redirect": … }, { "enqueue": … }' },
);

const route = z.strictObject(
  {
    to: list(phoneNumber('a number in to', 'must be an E.164 number such as +15550001111'), 'to must be a list of numbers', [1, 'to must list at least one number; leave it out for the default route']).optional(),
    // Each <Siprec> forks two streams and Twilio allows four per call.
    siprec: list(siprecTarget, 'siprec must be a list of 1 or 2 entries', [1, 'siprec needs at least one entry'], [
      2,
      'siprec allows at most 2 entries (a call has at most four forked streams, two per <Siprec>)',
    ]),
    then: continuation,
  },
  { error: (i) => (i.code === 'unrecognized_keys' ? undefined : 'a route must be an object with siprec and then') },
);

const fileShape = z.strictObject(
  { routes: list(z.unknown(), 'routes must be a list of routes', [1, 'routes must hold at least the default route']) },
  { error: (i) => (i.code === 'unrecognized_keys' ? undefined : 'the routes file must be a JSON object: { "routes": [ … ] }') },
);

export type RoutesFile = { routes: Route[] };
export interface RoutesIssue {
  path: PropertyKey[];
  message: string;
}
export type RoutesParse = { success: true; data: RoutesFile } | { success: false; issues: RoutesIssue[] };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * JSON.parse keeps a `"__proto__"` key as an own property, but every object built from it (zod's
 * output included) turns it into a prototype assignment, so a parameter of that name would vanish.
 */
function protoKeys(value: unknown, path: PropertyKey[], issues: RoutesIssue[]): void {
  if (Array.isArray(value)) return value.forEach((v, i) => protoKeys(v, [...path, i], issues));
  if (!isObject(value)) return;
  for (const key of Object.keys(value)) {
    if (key === '__proto__') issues.push({ path: [...path, key], message: '"__proto__" cannot be a key: JavaScript drops it without a word; rename it' });
    else protoKeys(value[key], [...path, key], issues);
  }
}

/** The rules across routes and entries, read from the raw file so that no other problem hides them. */
function crossChecks(routes: unknown[], issues: RoutesIssue[]): void {
  if (routes.length === 0) return; // "at least the default route" says it already
  const defaults = routes.flatMap((r, i) => (isObject(r) && r.to === undefined ? [i] : []));
  if (defaults.length !== 1) {
    issues.push({ path: ['routes'], message: `exactly one route must have no "to" (the default); found ${defaults.length}` });
  } else if (defaults[0] !== routes.length - 1) {
    issues.push({ path: ['routes', defaults[0]!], message: 'the default route (no "to") must be last' });
  }
  const routedBy = new Map<string, number>();
  routes.forEach((r, i) => {
    if (!isObject(r)) return;
    if (Array.isArray(r.to)) {
      r.to.forEach((number, j) => {
        if (typeof number !== 'string') return;
        const first = routedBy.get(number);
        if (first === undefined) return void routedBy.set(number, i);
        const message = first === i ? `${number} is listed twice in this route` : `${number} is already routed by routes[${first}], so this entry could never match`;
        issues.push({ path: ['routes', i, 'to', j], message });
      });
    }
    if (!Array.isArray(r.siprec)) return;
    const names = new Set<string>();
    r.siprec.forEach((s, j) => {
      if (!isObject(s)) return;
      const path = ['routes', i, 'siprec', j, 'name'];
      let name = typeof s.name === 'string' ? s.name : undefined;
      if (s.name === undefined && typeof s.connectorName === 'string' && s.connectorName !== '') {
        name = s.connectorName;
        if (!SIPREC_NAME.test(name)) {
          issues.push({ path, message: `name defaults to connectorName, which is not ${NAME_RULE}: give a name` });
        }
      }
      if (name === undefined) return;
      if (names.has(name)) issues.push({ path, message: `name "${name}" is used twice in this route; Twilio needs a name unique per call` });
      names.add(name);
    });
  });
}

// Issues come from three passes; list them as they appear in the file. Keys outside the schema
// (parameter names, unknown keys) rank alike and keep the order they were found in (sort is stable).
const FIELD_ORDER = ['routes', 'to', 'siprec', 'connectorName', 'name', 'track', 'statusCallbackMethod', 'parameters', 'then', 'dial', 'redirect', 'enqueue'];
const rank = (k: PropertyKey) => (typeof k === 'number' ? k : ((i) => (i === -1 ? FIELD_ORDER.length : i))(FIELD_ORDER.indexOf(String(k))));
function inFileOrder(a: RoutesIssue, b: RoutesIssue): number {
  for (let i = 0; i < Math.min(a.path.length, b.path.length); i++) {
    const d = rank(a.path[i]!) - rank(b.path[i]!);
    if (d !== 0) return d;
  }
  return a.path.length - b.path.length;
}

/** zod's issues under `prefix`; a `"__proto__"` key is left to protoKeys, which says what is wrong with it. */
function fromZod(zodIssues: z.core.$ZodIssue[], prefix: PropertyKey[]): RoutesIssue[] {
  return zodIssues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code !== 'unrecognized_keys') return [{ path, message: issue.message }];
    const keys = issue.keys.filter((k) => k !== '__proto__');
    if (keys.length === 0) return [];
    return [{ path, message: `unknown key${keys.length === 1 ? '' : 's'} ${keys.map((k) => JSON.stringify(k)).join(', ')}` }];
  });
}

/**
 * Validates a parsed routes file and lists every problem at once, each with its JSON path: the shape
 * of each route through zod, and the rules across routes (one default, last; a number in one route;
 * a name once per route) on the raw input, so that fixing one problem never reveals the next.
 */
export function parseRoutesFile(json: unknown): RoutesParse {
  const issues: RoutesIssue[] = [];
  protoKeys(json, [], issues);
  const file = fileShape.safeParse(json);
  if (!file.success) issues.push(...fromZod(file.error.issues, []));
  const raw = isObject(json) && Array.isArray(json.routes) ? json.routes : [];
  const routes: Route[] = [];
  raw.forEach((r, i) => {
    const parsed = route.safeParse(r);
    if (parsed.success) routes.push(parsed.data);
    else issues.push(...fromZod(parsed.error.issues, ['routes', i]));
  });
  crossChecks(raw, issues);
  if (issues.length > 0) return { success: false, issues: issues.sort(inFileOrder) };
  return { success: true, data: { routes } };
}
