import { readdirSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type RequestHandler } from 'express';

/**
 * `public/` at the repository root. The same `../..` works from `src/routes/` (ts-jest) and from
 * `dist/routes/` (the build: rootDir src, outDir dist), so no copy step is needed.
 */
export const PUBLIC_DIR = path.join(__dirname, '..', '..', 'public');

export interface StatusPageOptions {
  /** Runs before any file is served: the admin auth, whose 401 makes the browser show its login prompt. */
  guard: RequestHandler;
  root?: string;
}

/**
 * The status page's static files, each behind `guard`. Only the page's own paths are claimed, so
 * any other path keeps the app's JSON 404 rather than a login prompt. `no-cache` plus the ETag makes
 * the browser revalidate every load: a deploy shows at once, and an unchanged file costs a 304.
 */
export function statusPage({ guard, root = PUBLIC_DIR }: StatusPageOptions): Router {
  // Read once at boot: the files ship with the code, and a deploy restarts the process.
  const files = readdirSync(root, { withFileTypes: true })
    .filter((f) => f.isFile() && !f.name.startsWith('.'))
    .map((f) => `/${f.name}`);
  if (!files.includes('/index.html')) throw new Error(`statusPage: ${root} has no index.html`);

  const serve = express.static(root, {
    index: 'index.html',
    etag: true,
    lastModified: true,
    cacheControl: false,
    dotfiles: 'ignore',
    redirect: false,
    setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
  });
  const router = Router();
  router.get(['/', ...files], guard, serve);
  return router;
}
