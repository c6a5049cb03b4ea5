/**
 * Route choice and parameter templates: pure functions over plain data, no I/O.
 */
import { createHash } from 'node:crypto';

export const TRACKS = ['inbound_track', 'outbound_track', 'both_tracks'] as const;
export type Track = (typeof TRACKS)[number];

/** Fields of Twilio's voice request that a `<Parameter>` value may quote as `{Name}`. */
export const PLACEHOLDERS = [
  'From',
  'To',
  'CallSid',
  'AccountSid',
  'Direction',
  'CallerName',
  'ForwardedFrom',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type CallFields = Partial<Record<Placeholder, string>>;

/** Twilio refuses a `<Parameter>` whose name and value together reach 500 characters. */
export const MAX_PARAMETER_LENGTH = 499;

export interface SiprecTarget {
  connectorName: string;
  name: string;
  track: Track;
  statusCallbackMethod: 'POST' | 'GET';
  parameters: Record<string, string>;
}

export type Continuation = { dial: string } | { redirect: string } | { enqueue: string };

export interface Route {
  /** Absent on the single default route, which is always last. */
  to?: string[];
  siprec: SiprecTarget[];
  then: Continuation;
}

const PLACEHOLDER_PATTERN = /\{([^{}]*)\}/g;

/** Names inside `{…}` in a template that are not known placeholders. */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(PLACEHOLDERS);
  return [...template.matchAll(PLACEHOLDER_PATTERN)]
    .map((m) => m[1] ?? '')
    .filter((name) => !known.has(name));
}

export function renderTemplate(template: string, call: CallFields): string {
  return template.replace(PLACEHOLDER_PATTERN, (whole, name: string) =>
    (PLACEHOLDERS as readonly string[]).includes(name) ? (call[name as Placeholder] ?? '') : whole,
  );
}

/**
 * Fills every parameter's placeholders. A rendered value is cut so that name plus value stay
 * under Twilio's limit: a long caller name must not make Twilio reject the whole `<Siprec>`.
 */
export function renderParameters(
  parameters: Record<string, string>,
  call: CallFields,
): Array<{ name: string; value: string }> {
  return Object.entries(parameters).map(([name, template]) => {
    const value = renderTemplate(template, call);
    return { name, value: value.slice(0, Math.max(0, MAX_PARAMETER_LENGTH - name.length)) };
  });
}

/** First route whose `to` list holds the called number; else the default route. */
export function pickRoute(routes: readonly Route[], to: string | undefined): Route {
  const match = to === undefined ? undefined : routes.find((r) => r.to?.includes(to));
  const chosen = match ?? routes.find((r) => r.to === undefined);
  // The routes schema guarantees a default route; reaching here means the config bypassed it.
  if (!chosen) throw new Error('routes have no default route');
  return chosen;
}

export interface PlannedSiprec {
  name: string;
  connectorName: string;
  track: Track;
  statusCallbackMethod: 'POST' | 'GET';
  parameters: Array<{ name: string; value: string }>;
}

/** Whether any parameter of the route quotes the call (so each call renders a TwiML of its own). */
export function quotesTheCall(route: Route): boolean {
  const known = new Set<string>(PLACEHOLDERS);
  return route.siprec.some((t) => Object.values(t.parameters).some((v) => [...v.matchAll(PLACEHOLDER_PATTERN)].some((m) => known.has(m[1]!))));
}

/** The `<Siprec>` elements for this call, with their parameters filled in. */
export function planSiprec(route: Route, call: CallFields): PlannedSiprec[] {
  return route.siprec.map((t) => ({
    name: t.name,
    connectorName: t.connectorName,
    track: t.track,
    statusCallbackMethod: t.statusCallbackMethod,
    parameters: renderParameters(t.parameters, call),
  }));
}

/**
 * A stable key for the route a call took, stored with the call so that a later webhook without
 * `To` (or with numbers masked) continues on it: `<index>:<fingerprint>`. The fingerprint is of the
 * route's `to` list alone, which is unique per routes file (a number is in one route only, and
 * there is one default), so a route keeps its key when routes are reordered or its `<Siprec>` or
 * `then` are edited, and loses it when its numbers change. Hashed: the ledger keeps no number.
 */
export function routeKey(routes: readonly Route[], route: Route): string {
  return `${routes.indexOf(route)}:${fingerprint(route)}`;
}

/** The route a stored key names in these routes, or undefined when no route has its numbers now. */
export function routeByKey(routes: readonly Route[], key: string | null | undefined): Route | undefined {
  const fp = key?.split(':')[1];
  return fp === undefined ? undefined : routes.find((r) => fingerprint(r) === fp);
}

// Routes come from the config, read once: each is hashed once, not on every call.
const fingerprints = new WeakMap<Route, string>();
function fingerprint(route: Route): string {
  let fp = fingerprints.get(route);
  if (fp === undefined) {
    const numbers = route.to ? [...route.to].sort() : null;
    fp = createHash('sha256').update(JSON.stringify(numbers)).digest('hex').slice(0, 16);
    fingerprints.set(route, fp);
  }
  return fp;
}
