import { z } from 'zod';
import { MAX_PARAMETER_LENGTH, TRACKS, unknownPlaceholders, type Route } from '../domain/routing';

export const SIPREC_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const E164 = /^\+[1-9]\d{1,14}$/;
// Control characters would be stripped or refused by Twilio's XML parser and are never intended.
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

const printable = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(NO_CONTROL, `${what} must not contain control characters`);

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

const siprecTarget = z
  .strictObject({
    connectorName: printable('connectorName', 128),
    name: z
      .string({ error: 'name must be a string' })
      .regex(SIPREC_NAME, 'name must be 1-64 characters of A-Z, a-z, 0-9, _ or -')
      .optional(),
    track: z.enum(TRACKS, { error: `track must be one of ${TRACKS.join(', ')}` }).default('inbound_track'),
    statusCallbackMethod: z.enum(['POST', 'GET'], { error: 'statusCallbackMethod must be POST or GET' }).default('POST'),
    parameters,
  })
  .transform((t, ctx) => {
    const name = t.name ?? t.connectorName;
    if (!SIPREC_NAME.test(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: 'name defaults to connectorName, which is not 1-64 characters of A-Z, a-z, 0-9, _ or -: give a name',
      });
      return z.NEVER;
    }
    return { ...t, name };
  });

const dialTarget = z
  .string({ error: 'then.dial must be a string' })
  .refine(
    (v) => E164.test(v) || /^sip:[^\s<>"]+$/i.test(v) || /^client:[A-Za-z0-9_.@-]{1,256}$/.test(v),
    'then.dial must be an E.164 number (+15551230000), a sip: URI or a client: identity',
  );
const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
  .refine((v) => !/[\s]/.test(v), 'must not contain white space');

const continuation = z.union(
  [
    z.strictObject({ dial: dialTarget }),
    z.strictObject({ redirect: httpUrl }),
    z.strictObject({ enqueue: printable('then.enqueue', 64) }),
  ],
  { error: 'then must be exactly one of { "dial": … }, { "redirect": … }, { "enqueue": … }' },
);

const route = z.strictObject({
  to: z
    .array(z.string().regex(E164, 'must be an E.164 number such as +15550001111'))
    .min(1, 'to must list at least one number; leave it out for the default route')
    .optional(),
  siprec: z
    .array(siprecTarget)
    .min(1, 'siprec needs at least one entry')
    // Each <Siprec> forks two streams and Twilio allows four per call.
    .max(2, 'siprec allows at most 2 entries (a call has at most four forked streams, two per <Siprec>)'),
  then: continuation,
});

export const routesFileSchema = z
  .strictObject({ routes: z.array(route).min(1, 'routes must hold at least the default route') })
  .superRefine((file, ctx) => {
    const defaults = file.routes.flatMap((r, i) => (r.to === undefined ? [i] : []));
    if (defaults.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['routes'],
        message: `exactly one route must have no "to" (the default); found ${defaults.length}`,
      });
    } else if (defaults[0] !== file.routes.length - 1) {
      ctx.addIssue({ code: 'custom', path: ['routes', defaults[0]!], message: 'the default route (no "to") must be last' });
    }
    const seen = new Map<string, number>();
    file.routes.forEach((r, i) => {
      r.to?.forEach((number, j) => {
        const first = seen.get(number);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'to', j],
            message: `${number} is already routed by routes[${first}], so this entry could never match`,
          });
        } else seen.set(number, i);
      });
      const names = new Set<string>();
      r.siprec.forEach((s, j) => {
        if (names.has(s.name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, 'siprec', j, 'name'],
            message: `name "${s.name}" is used twice in this route; Twilio needs a name unique per call`,
          });
        }
        names.add(s.name);
      });
    });
  });

export type RoutesFile = { routes: Route[] };
