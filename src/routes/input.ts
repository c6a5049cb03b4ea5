import { z } from 'zod';
import { HttpError } from '../http/errors';

/** Parses a request's input with its schema, or throws a 400 naming each bad field. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
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
