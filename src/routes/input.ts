import { z } from 'zod';
import { HttpError } from '../http/errors';

declare global {
  // Node 20 has it (ES2024); the TypeScript lib this project targets does not list it yet.
  interface String {
    isWellFormed(): boolean;
  }
}

const MAX_REPORTED = 20;
// A path deeper than this is shortened in the report: its length is the body's nesting, not a name.
const MAX_PATH_SEGMENTS = 16;

/** Where a value sits, as a chain to its parent: the dotted path is only spelled out when reported. */
interface Place {
  key: string;
  parent: Place | null;
}

function pathOf(at: Place | null): string {
  const keys: string[] = [];
  for (let p = at; p !== null; p = p.parent) keys.push(p.key);
  keys.reverse();
  return keys.length > MAX_PATH_SEGMENTS ? `${keys.slice(0, MAX_PATH_SEGMENTS).join('.')}.…` : keys.join('.');
}

/**
 * Where `input` holds text that is not well-formed UTF-16 (a lone surrogate): as a value, or as a
 * property name (reported at its parent). Such a string has no UTF-8 form: SQLite would store and
 * Twilio would receive U+FFFD in its place, so it is refused rather than changed. Walked without
 * recursion, so a deeply nested body cannot exhaust the stack, and without building a path per
 * value (a 64 kB body nested 30,000 deep took 130 ms that way; now a few ms).
 */
function illFormed(input: unknown, what: string): Array<{ path: string; message: string }> {
  const found: Array<{ path: string; message: string }> = [];
  const stack: Array<[unknown, Place | null]> = [[input, null]];
  while (stack.length > 0 && found.length < MAX_REPORTED) {
    const [value, at] = stack.pop()!;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) {
        const path = pathOf(at);
        found.push({ path, message: `${path || what} must be well-formed Unicode text (it holds a lone surrogate)` });
      }
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const keys = Object.keys(value);
    for (const key of keys) {
      if (!key.isWellFormed()) found.push({ path: pathOf(at), message: `a name in ${pathOf(at) || what} must be well-formed Unicode text (it holds a lone surrogate)` });
    }
    // Pushed last to first, so that the first is walked (and reported) first.
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      if (key.isWellFormed()) stack.push([(value as Record<string, unknown>)[key], { key, parent: at }]);
    }
  }
  return found;
}

/**
 * Parses a request's input with its schema, or throws a 400 naming each bad field. Text that is not
 * well-formed is refused first, for every input alike, before any schema reads it.
 */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const broken = illFormed(input, what);
  if (broken.length > 0) throw new HttpError(400, `${what} is malformed`, { details: broken });
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new HttpError(400, `${what} is malformed`, {
    details: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}

/** `limit` of a listing: 1 to 500, 50 when absent. */
export const pageLimit = z.coerce
  .number({ error: 'limit must be a whole number from 1 to 500' })
  .int('limit must be a whole number from 1 to 500')
  .min(1, 'limit must be at least 1')
  .max(500, 'limit must be at most 500')
  .default(50);
