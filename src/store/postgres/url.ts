/**
 * DATABASE_URL as people read it. URL() refuses the multi-host form (`db1:5432,db2:5432`) that
 * libpq and postgres.js take, so the authority is split by hand, never evaluated.
 */
const AUTHORITY = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/;

/** The URL with its password masked: safe for logs, errors and check-config. */
export function redactDatabaseUrl(url: string): string {
  const m = AUTHORITY.exec(url);
  if (!m) return '(not a postgres:// URL)';
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  const at = authority.lastIndexOf('@');
  if (at < 0) return url.replace(/([?&]password=)[^&#]*/i, '$1***');
  const user = authority.slice(0, at);
  const colon = user.indexOf(':');
  const shown = colon < 0 ? user : `${user.slice(0, colon)}:***`;
  return `${scheme}${shown}${authority.slice(at)}${rest.replace(/([?&]password=)[^&#]*/i, '$1***')}`;
}

/** Each host:port the URL names, in order (5432 when no port is given). */
export function databaseHosts(url: string): string[] {
  const m = AUTHORITY.exec(url);
  if (!m) return [];
  const authority = m[2] ?? '';
  const hosts = authority.slice(authority.lastIndexOf('@') + 1);
  return hosts
    .split(',')
    .filter(Boolean)
    .map((h) => {
      const bracketed = /^\[[^\]]+\](?::\d+)?$/.test(h);
      const hasPort = bracketed ? /\]:\d+$/.test(h) : /:\d+$/.test(h);
      return hasPort ? h : `${h}:5432`;
    });
}
