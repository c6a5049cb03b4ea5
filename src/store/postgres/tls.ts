import { readFileSync } from 'node:fs';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import { databaseHosts } from './url';

/**
 * libpq's TLS settings in DATABASE_URL, as postgres.js does not read them all: it takes sslmode, but
 * of sslrootcert only `system`. A CA file (a managed database's, or a private CA) is read here and
 * handed to TLS, with libpq's meaning: verify-full checks the chain and the host name, verify-ca
 * (and require with a root certificate, as libpq does) the chain only. The settings are taken out of
 * the URL, which postgres.js would otherwise send to the server as unknown startup parameters.
 */
export interface PgTls {
  /** The URL without the settings handled here. */
  url: string;
  /** postgres.js's `ssl` option, or undefined to leave sslmode to postgres.js. */
  ssl?: ConnectionOptions;
}

const OURS = ['sslrootcert', 'sslmode'];

export function pgTls(url: string): PgTls {
  const q = url.indexOf('?');
  if (q < 0) return { url };
  const params = new URLSearchParams(url.slice(q + 1));
  const rootcert = params.get('sslrootcert');
  if (!rootcert || rootcert === 'system') return { url };
  const mode = params.get('sslmode') ?? 'verify-full';
  if (mode === 'disable' || mode === 'allow' || mode === 'prefer') {
    throw new Error(`DATABASE_URL: sslrootcert is given with sslmode=${mode}, which would not verify the server with it: use verify-full or verify-ca`);
  }
  let ca: string;
  try {
    ca = readFileSync(rootcert, 'utf8');
  } catch (err) {
    throw new Error(`DATABASE_URL: cannot read sslrootcert ${rootcert} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  for (const k of OURS) params.delete(k);
  const rest = params.toString();
  const ssl: ConnectionOptions = { ca, rejectUnauthorized: true };
  // verify-ca and require: the chain, not the name (libpq's meaning).
  if (mode !== 'verify-full') ssl.checkServerIdentity = () => undefined;
  else ssl.checkServerIdentity = nameCheck(databaseHosts(url).map((h) => h.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')));
  return { url: url.slice(0, q) + (rest ? `?${rest}` : ''), ssl };
}

/**
 * postgres.js gives TLS no name for a host that is an IP address (SNI cannot carry one), and Node then
 * checks the certificate against "localhost". For such a host, the certificate must name one of the
 * URL's hosts: the server is one of those the operator listed.
 */
function nameCheck(hosts: string[]): ConnectionOptions['checkServerIdentity'] {
  return (name, cert) => {
    if (hosts.includes(name)) return checkServerIdentity(name, cert);
    for (const h of hosts) if (checkServerIdentity(h, cert) === undefined) return undefined;
    return checkServerIdentity(hosts[0] ?? name, cert);
  };
}
