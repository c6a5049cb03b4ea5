import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { InvalidCursorError } from './store';

/**
 * Listing cursors, the same for every backend. A backend pages by keyset, the (created_at, id) of
 * the last row of a page, and writes that position with encodeCursor; the operator API hands out
 * only signed positions and opens them before the store sees them, so a position nobody issued
 * (edited, made up, or from another deployment) is refused rather than silently paging from it.
 */

/** The position of a page's last row, as text: base64url of "createdAt.id". */
export function encodeCursor(row: { created_at: number; id: number }): string {
  return Buffer.from(`${row.created_at}.${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: number; id: number } | null {
  const bytes = Buffer.from(cursor, 'base64url');
  // Buffer skips characters outside the alphabet: only the canonical spelling of a position counts.
  if (bytes.toString('base64url') !== cursor) return null;
  const m = /^(\d{1,15})\.(\d{1,15})$/.exec(bytes.toString());
  return m ? { createdAt: Number(m[1]), id: Number(m[2]) } : null;
}

const MAC_BYTES = 32;
const MAC_TEXT = /^[A-Za-z0-9_-]{43}$/;

export interface CursorSigner {
  sign(cursor: string): string;
  /** The position inside a cursor this signer signed; throws InvalidCursorError for any other. */
  open(signed: string): string;
}

/**
 * Signs cursors with a key derived (HKDF-SHA256) from a configured secret, never one made at boot:
 * every instance sharing the secret accepts the others' cursors, and page 2 still opens after a
 * restart. The derivation keeps the key apart from the secret's own use.
 */
export function cursorSigner(secret: string): CursorSigner {
  if (!secret) throw new Error('cursorSigner needs a secret');
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'siprec-control listing cursor v1', MAC_BYTES));
  const mac = (text: string) => createHmac('sha256', key).update(text).digest();
  return {
    sign: (cursor) => `${cursor}.${mac(cursor).toString('base64url')}`,
    open(signed) {
      const dot = signed.lastIndexOf('.');
      const [body, tag] = [signed.slice(0, dot), signed.slice(dot + 1)];
      if (dot < 1 || !MAC_TEXT.test(tag)) throw new InvalidCursorError();
      const given = Buffer.from(tag, 'base64url');
      // The last character of 43 carries two spare bits: only the canonical spelling is the one issued.
      if (given.length !== MAC_BYTES || given.toString('base64url') !== tag || !timingSafeEqual(given, mac(body))) {
        throw new InvalidCursorError();
      }
      return body;
    },
  };
}
