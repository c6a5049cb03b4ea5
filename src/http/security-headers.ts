import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * helmet's defaults, except over plain http. `upgrade-insecure-requests` makes the browser fetch the
 * page's own files over https, which a plain-http deployment does not serve: the status page stays
 * blank on any host but localhost (which browsers exempt). HSTS would pin the host to https the day
 * it is also reached through TLS. Browsers ignore Cross-Origin-Opener-Policy and Origin-Agent-Cluster
 * on an origin that is not secure, and say so in the console on every load: they go too.
 */
export function securityHeaders(publicBaseUrl: string): RequestHandler {
  if (new URL(publicBaseUrl).protocol === 'https:') return helmet();
  return helmet({
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    strictTransportSecurity: false,
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
  });
}
