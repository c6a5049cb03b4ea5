/**
 * DATABASE_URL carries the password: whatever is logged or put in an error shows it masked. The URL
 * may name several hosts (`postgres://u:p@db1:5432,db2:5432/siprec?target_session_attrs=read-write`),
 * which WHATWG URL refuses, so the authority is taken apart by hand, as libpq and postgres.js do.
 */

const DEFAULT_PORT = 5432;

interface Parts {
  scheme: string;
  userinfo: string | null;
  hosts: string;
  rest: string;
}

function split(url: string): Parts | null {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/i.exec(url);
  if (!m) return null;
  const authority = m[2]!;
  // The last @ ends the userinfo: a password may hold an unencoded @.
  const at = authority.lastIndexOf('@');
  return { scheme: m[1]!, userinfo: at < 0 ? null : authority.slice(0, at), hosts: at < 0 ? authority : authority.slice(at + 1), rest: m[3]! };
}

/** The URL with its password (in the userinfo or a `password=` parameter) replaced by `***`. */
export function redactDatabaseUrl(url: string): string {
  const p = split(url);
  if (!p) return '(not a postgres:// URL)';
  let userinfo = p.userinfo;
  if (userinfo !== null) {
    const colon = userinfo.indexOf(':');
    if (colon >= 0) userinfo = `${userinfo.slice(0, colon)}:***`;
  }
  const rest = p.rest.replace(/([?&]password=)[^&#]*/gi, '$1***');
  return `${p.scheme}${userinfo === null ? '' : `${userinfo}@`}${p.hosts}${rest}`;
}

/** Each host of the URL as host:port (5432 when the URL gives none), for logs and errors. */
export function databaseHosts(url: string): string[] {
  const p = split(url);
  if (!p || p.hosts === '') return [`localhost:${DEFAULT_PORT}`];
  return decodeURIComponent(p.hosts)
    .split(',')
    .map((h) => {
      // [::1]:5433, [::1], db1:5433, db1
      const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(h);
      const host = m?.[1] || 'localhost';
      return `${host}:${m?.[2] || DEFAULT_PORT}`;
    });
}
