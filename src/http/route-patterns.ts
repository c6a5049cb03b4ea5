import type { Application } from 'express';

/** What router 2.3's public `listRoutes()` returns for one registered path. */
interface RouteInfo {
  path: string | RegExp;
  methods?: string[];
  router?: { listRoutes?(): RouteInfo[] };
}
interface Pattern {
  full: string;
  segments: string[];
  methods: Set<string>;
}

const split = (path: string) => path.split('/').filter((s) => s !== '');

/** Every route's full pattern (mount path + route path), in the order Express tries them. */
function flatten(routes: RouteInfo[], mount: string, out: Pattern[]): Pattern[] {
  for (const r of routes) {
    // Regexps, wildcards and optional groups are not used here; a route we cannot read is skipped.
    if (typeof r.path !== 'string' || /[*?(){}]/.test(r.path)) continue;
    const full = `${mount}${r.path === '/' && r.router ? '' : r.path}`;
    if (r.router?.listRoutes) flatten(r.router.listRoutes(), full, out);
    else if (r.methods) out.push({ full: full || '/', segments: split(full), methods: new Set(r.methods) });
  }
  return out;
}

const cache = new WeakMap<object, Pattern[]>();

/**
 * The pattern of the route a request was addressed to, found from the path and method alone: also
 * for a request refused before its route ran (the admin auth's 401, a body parser's 413), which
 * Express never matched, and always as registered, whatever case the caller wrote. Matches as
 * Express does (case-insensitive, `:param` is one segment, a trailing slash is forgiven, HEAD by
 * a GET route, which listRoutes() lists); undefined when no route has this path and method. Read
 * once per app, through router's public listRoutes(); without it (an older router), nothing is
 * resolved.
 */
export function addressedRoute(app: Application, method: string, path: string): string | undefined {
  const router = (app as unknown as { router?: { listRoutes?(): RouteInfo[] } }).router;
  if (!router?.listRoutes) return undefined;
  let patterns = cache.get(router);
  if (!patterns) cache.set(router, (patterns = flatten(router.listRoutes(), '', [])));
  const segments = split(path);
  const found = patterns.find(
    (p) =>
      p.methods.has(method) &&
      p.segments.length === segments.length &&
      p.segments.every((s, i) => (s.startsWith(':') ? segments[i] !== '' : s.toLowerCase() === segments[i]!.toLowerCase())),
  );
  return found?.full;
}
