/**
 * deploy/nginx and deploy/caddy against the app's own assumptions. Neither nginx nor Caddy is
 * installed here, so nothing runs them: the files are parsed, and what they pass upstream is worked
 * out by each proxy's documented rules. The invariant that matters most: PUBLIC_BASE_URL plus the
 * path and query siprec-control receives is the URL Twilio called (and signed).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { FORM_LIMIT_BYTES } from '../../src/http/form-body';
import { ADMIN_JSON_LIMIT } from '../../src/routes/admin-api';
import { DEFAULT_TWILIO_TIMEOUT_MS } from '../../src/twilio/rest';
import { tempDir, testEnv } from '../helpers/env';
import { bytes, find, nginxUpstream, one, parseCaddyfile, parseNginx, parseUnit, seconds, type Directive } from '../helpers/proxy-configs';
import { ROOT } from '../helpers/server-process';

const DEPLOY = path.join(ROOT, 'deploy');
/** Twilio waits this long for a webhook's answer, then gives up on the request. */
const TWILIO_WEBHOOK_TIMEOUT_S = 15;
const BODY_LIMIT = Math.max(FORM_LIMIT_BYTES, bytes(ADMIN_JSON_LIMIT.replace(/kb$/i, 'k')));

const unit = parseUnit(readFileSync(path.join(DEPLOY, 'systemd', 'siprec-control.service'), 'utf8'));
const unitEnv = Object.fromEntries(unit.Service!.filter(([k]) => k === 'Environment').map(([, v]) => v.split('=') as [string, string]));
/** Where the systemd unit has the app listen: the address both proxies must pass to. */
const APP_ADDRESS = `${unitEnv.HOST}:${unitEnv.PORT}`;

const keepAliveSeconds = (() => {
  const dir = tempDir();
  try {
    return loadConfig(testEnv(dir)).http.keepAliveTimeoutSeconds;
  } finally {
    dir.remove();
  }
})();

/** The PUBLIC_BASE_URL and TRUST_PROXY a file's header says to set. */
function documented(text: string): { base: URL; trustProxy: string } {
  const base = /PUBLIC_BASE_URL=(\S+)/.exec(text)?.[1];
  const trustProxy = /TRUST_PROXY=(\S+)/.exec(text)?.[1];
  if (!base || !trustProxy) throw new Error('the file does not say which PUBLIC_BASE_URL and TRUST_PROXY go with it');
  return { base: new URL(base), trustProxy };
}

/** URLs Twilio, an operator and a browser use, each as PUBLIC_BASE_URL + path and query. */
const REQUESTS = [
  ['Twilio', '/twilio/voice'],
  ['Twilio', '/twilio/voice?FriendlyName=a%20b&x=%2F'],
  ['Twilio', '/twilio/siprec-status'],
  ['Twilio', '/twilio/siprec-stop?name=gridspace&next=https%3A%2F%2Fivr.example.com%2Fafter'],
  ['operator', '/api/calls/CA0123456789abcdef0123456789abcdef/siprec'],
  ['operator', '/api/sessions?state=active&cursor=eyJ0Ijo'],
  ['operator', '/metrics'],
  ['operator', '/'],
  ['operator', '/app.js'],
  ['monitor', '/readyz'],
] as const;

const nginxFiles = readdirSync(path.join(DEPLOY, 'nginx')).filter((f) => f.endsWith('.conf'));
const caddyFiles = readdirSync(path.join(DEPLOY, 'caddy')).filter((f) => f.startsWith('Caddyfile'));

it('there is a plain-host and a path-prefix example for each proxy', () => {
  for (const files of [nginxFiles.map((f) => path.join('nginx', f)), caddyFiles.map((f) => path.join('caddy', f))]) {
    const prefixes = files.map((f) => documented(readFileSync(path.join(DEPLOY, f), 'utf8')).base.pathname).sort();
    expect(prefixes).toEqual(['/', '/siprec']);
  }
});

describe.each(nginxFiles)('deploy/nginx/%s', (file) => {
  const text = readFileSync(path.join(DEPLOY, 'nginx', file), 'utf8');
  const conf = parseNginx(text);
  const { base, trustProxy } = documented(text);
  const prefix = base.pathname.replace(/\/$/, '');
  const servers = conf.filter((d) => d.name === 'server');
  const tls = servers.find((s) => s.children.some((d) => d.name === 'listen' && d.args.includes('ssl')))!;
  const plain = servers.find((s) => s !== tls)!;
  const get = (name: string) => one(tls.children, name).args;

  it('serves PUBLIC_BASE_URL over TLS 1.2+, and plain http only redirects to it', () => {
    expect(base.protocol).toBe('https:');
    expect(get('server_name')).toEqual([base.hostname]);
    expect(get('ssl_certificate')[0]).toMatch(/\.pem$/);
    expect(get('ssl_certificate_key')[0]).toMatch(/\.pem$/);
    expect(get('ssl_protocols')).toEqual(['TLSv1.2', 'TLSv1.3']);
    expect(plain.children.filter((d) => d.name !== 'listen' && d.name !== 'server_name')).toEqual([expect.objectContaining({ name: 'return', args: ['301', 'https://$host$request_uri'] })]);
  });

  it('passes to the address the systemd unit listens on, keeping idle upstream connections shorter than the app does', () => {
    const upstream = one(conf, 'upstream');
    expect(one(upstream.children, 'server').args).toEqual([APP_ADDRESS]);
    expect(seconds(one(upstream.children, 'keepalive_timeout').args[0]!)).toBeLessThan(keepAliveSeconds);
    expect(get('proxy_http_version')).toEqual(['1.1']);
    const headers = Object.fromEntries(tls.children.filter((d) => d.name === 'proxy_set_header').map((d) => [d.args[0], d.args[1]]));
    expect(headers).toMatchObject({ Connection: '', 'X-Forwarded-For': '$proxy_add_x_forwarded_for' });
    expect(trustProxy).toBe('1'); // one proxy appends one address
    for (const pass of find(conf, 'proxy_pass')) expect(pass.args[0]).toMatch(new RegExp(`^http://${upstream.args[0]}(/|$)`));
  });

  it("refuses what the app refuses before it gets there, and times slow clients out inside Twilio's wait", () => {
    expect(bytes(get('client_max_body_size')[0]!)).toBe(BODY_LIMIT);
    expect(seconds(get('client_header_timeout')[0]!)).toBeLessThan(TWILIO_WEBHOOK_TIMEOUT_S);
    expect(seconds(get('client_body_timeout')[0]!)).toBeLessThan(TWILIO_WEBHOOK_TIMEOUT_S);
    expect(get('proxy_request_buffering')).toEqual(['on']);
    // The operator API waits for Twilio's REST API: the proxy must wait longer.
    expect(seconds(get('proxy_read_timeout')[0]!)).toBeGreaterThan(DEFAULT_TWILIO_TIMEOUT_MS / 1000);
  });

  it('touches neither path nor query: no rewrite, no $args', () => {
    expect(find(conf, 'rewrite')).toEqual([]);
    expect(text).not.toMatch(/\$(args|query_string|is_args|arg_)/);
  });

  it.each(REQUESTS)('%s: %s reaches the app as PUBLIC_BASE_URL + what it receives; per-address limits spare Twilio', (who, rest) => {
    const url = `${prefix}${rest}`;
    const r = nginxUpstream(tls, url);
    if (!('uri' in r)) throw new Error(`${url} is answered with return ${r.returns}`);
    expect(`${base.origin}${prefix}${r.uri}`).toBe(`${base.origin}${url}`);
    expect(r.uri).toBe(rest);
    const limited = r.location.children.some((d) => d.name === 'limit_req');
    expect({ who, limited }).toEqual({ who, limited: who !== 'Twilio' });
  });

  if (prefix !== '') {
    it('sends the bare prefix to the status page at prefix/', () => {
      expect(nginxUpstream(tls, prefix)).toMatchObject({ returns: `301 ${prefix}/` });
    });
  }
});

/** What Caddy passes upstream: handle_path strips its prefix from the path, the query stays; redir answers. */
function caddyUpstream(site: Directive, uri: string): { to: string; uri: string; block: Directive[] } | { redirect: string } {
  const [pathPart, query] = [uri.split('?')[0]!, uri.includes('?') ? uri.slice(uri.indexOf('?')) : ''];
  const redir = site.children.find((d) => d.name === 'redir' && d.args[0] === pathPart);
  if (redir) return { redirect: `${redir.args[2]} ${redir.args[1]}` };
  for (const h of site.children.filter((d) => d.name === 'handle_path')) {
    const p = h.args[0]!.replace(/\*$/, '');
    if (pathPart.startsWith(p)) return { to: one(h.children, 'reverse_proxy').args[0]!, uri: pathPart.slice(p.length - 1) + query, block: h.children };
  }
  return { to: one(site.children, 'reverse_proxy').args[0]!, uri, block: site.children };
}

describe.each(caddyFiles)('deploy/caddy/%s', (file) => {
  const text = readFileSync(path.join(DEPLOY, 'caddy', file), 'utf8');
  const conf = parseCaddyfile(text);
  const { base, trustProxy } = documented(text);
  const prefix = base.pathname.replace(/\/$/, '');
  const globals = conf.find((d) => d.name === '' || (d.name === '{' && d.args.length === 0))!;
  const site = one(conf, base.hostname);

  it('serves PUBLIC_BASE_URL by its host name, which is what makes Caddy fetch a certificate and serve https', () => {
    expect(base.protocol).toBe('https:');
    expect(site.args).toEqual([]);
    expect(trustProxy).toBe('1');
  });

  it("times slow clients out inside Twilio's wait, refuses what the app refuses, waits longer than the app waits for Twilio", () => {
    const timeouts = one(one(globals.children, 'servers').children, 'timeouts').children;
    expect(seconds(one(timeouts, 'read_header').args[0]!)).toBeLessThan(TWILIO_WEBHOOK_TIMEOUT_S);
    expect(seconds(one(timeouts, 'read_body').args[0]!)).toBeLessThan(TWILIO_WEBHOOK_TIMEOUT_S);
    for (const body of find(conf, 'request_body')) expect(bytes(one(body.children, 'max_size').args[0]!)).toBe(BODY_LIMIT);
    expect(find(conf, 'request_body').length).toBeGreaterThan(0);
    for (const proxy of find(conf, 'reverse_proxy')) {
      expect(proxy.args).toEqual([APP_ADDRESS]);
      const transport = one(proxy.children, 'transport').children;
      expect(seconds(one(transport, 'keepalive').args[0]!)).toBeLessThan(keepAliveSeconds);
      expect(seconds(one(transport, 'response_header_timeout').args[0]!)).toBeGreaterThan(DEFAULT_TWILIO_TIMEOUT_MS / 1000);
    }
  });

  it('touches neither path nor query beyond the prefix: no rewrite, uri or try_files', () => {
    for (const name of ['rewrite', 'uri', 'try_files', 'header_up']) expect(find(conf, name)).toEqual([]);
  });

  it.each(REQUESTS)('%s: %s reaches the app as PUBLIC_BASE_URL + what it receives, with the body limit', (_who, rest) => {
    const url = `${prefix}${rest}`;
    const r = caddyUpstream(site, url);
    if (!('uri' in r)) throw new Error(`${url} is answered with a redirect ${r.redirect}`);
    expect(`${base.origin}${prefix}${r.uri}`).toBe(`${base.origin}${url}`);
    expect(r.uri).toBe(rest);
    expect(r.block.some((d) => d.name === 'request_body')).toBe(true);
  });

  if (prefix !== '') {
    it('sends the bare prefix to the status page at prefix/', () => {
      expect(caddyUpstream(site, prefix)).toEqual({ redirect: `308 ${prefix}/` });
    });
  }
});
