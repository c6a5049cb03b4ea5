import { z } from 'zod';
import { HttpError } from '../http/errors';

declare global {
  // Node 20 has it (ES2024); the TypeScript lib this project targets does not list it yet.
  interface String {
    isWellFormed(): boolean;
  }
}

const MAX_REPORTED = 20;

/**
 * Where `input` holds text that is not well-formed UTF-16 (a lone surrogate): as a value, or as a
 * property name (reported at its parent). Such a string has no UTF-8 form: SQLite would store and
 * Twilio would receive U+FFFD in its place, so it is refused rather than changed. Walked without
 * recursion, so a deeply nested body cannot exhaust the stack.
 */
function illFormed(input: unknown, what: string): Array<{ path: string; message: string }> {
  const found: Array<{ path: string; message: string }> = [];
  const stack: Array<[unknown, string]> = [[input, '']];
  while (stack.length > 0 && found.length < MAX_REPORTED) {
    const [value, path] = stack.pop()!;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) found.push({ path, message: `${path || what} must be well-formed Unicode text (it holds a lone surrogate)` });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const children: Array<[unknown, string]> = [];
    for (const [key, child] of Object.entries(value)) {
      if (!key.isWellFormed()) found.push({ path, message: `a name in ${path || what} must be well-formed Unicode text (it holds a lone surrogate)` });
      else children.push([child, path ? `${path}.${key}` : key]);
    }
    stack.push(...children.reverse());
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
