#!/usr/bin/env node
// A sample receiver for siprec-control's alert webhook: plain Node, no dependencies.
//
//   ALERT_WEBHOOK_SECRET=… PORT=8080 node deploy/alert-receiver/server.js
//   siprec-control: ALERT_WEBHOOK_URL=http://<this host>:8080/alerts, the same ALERT_WEBHOOK_SECRET
//
// It verifies each POST as the README's verify() does: the hex HMAC-SHA256 of "<timestamp>.<raw body>"
// with the shared secret, compared in constant time, and a timestamp within 5 minutes. On top of that
// it refuses the same signed request twice (a replay inside those 5 minutes), and acknowledges a repeat
// of an alert it already handled without handling it again: siprec-control delivers at least once, and
// a retry carries the same X-Siprec-Control-Alert-Id with a new timestamp. Each alert it accepts is
// printed as one JSON line; replace handleAlert() with what should happen (page, ticket, chat).
'use strict';
const { createHmac, timingSafeEqual } = require('node:crypto');
const { createServer } = require('node:http');

const SECRET = process.env.ALERT_WEBHOOK_SECRET ?? '';
const PORT = Number(process.env.PORT ?? 8080);
const HOST = process.env.HOST ?? '127.0.0.1';
const TOLERANCE_SECONDS = 300;
const MAX_BODY_BYTES = 64 * 1024;
const MAX_REMEMBERED = 10_000;

if (SECRET.length < 16) {
  process.stderr.write('alert-receiver: set ALERT_WEBHOOK_SECRET (at least 16 characters, as siprec-control requires)\n');
  process.exit(1);
}

/**
 * The README's verify(), over the raw bytes received. Returns the HMAC it checked, as 64 lower-case hex
 * digits, or null. The replay check keys on that, never on the header as written: Buffer.from(…, 'hex')
 * reads "ABC…" and "abc…zz" as the same bytes, so the header's spelling can change while the HMAC stays.
 */
function verify(secret, rawBody, headers) {
  const ts = headers['x-siprec-control-timestamp'];
  const header = headers['x-siprec-control-signature'] ?? '';
  if (!/^[0-9a-f]{64}$/i.test(header)) return null;
  if (!/^\d+$/.test(ts ?? '') || Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE_SECONDS) return null;
  const given = Buffer.from(header, 'hex');
  const expected = createHmac('sha256', secret).update(`${ts}.`).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected) ? expected.toString('hex') : null;
}

// Signatures seen within the tolerance (an exact replay) and alert ids handled (a retry), oldest first.
const seenSignatures = new Map();
const handledAlerts = new Map();
function remember(map, key) {
  map.set(key, Date.now());
  for (const [k, at] of map) {
    if (map.size <= MAX_REMEMBERED && Date.now() - at <= TOLERANCE_SECONDS * 1000) break;
    map.delete(k);
  }
}

function handleAlert(id, alert) {
  process.stdout.write(`${JSON.stringify({ accepted: id, kind: alert.kind, severity: alert.severity, message: alert.message, at: alert.at })}\n`);
}

function answer(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
}

const server = createServer((req, res) => {
  if (req.method !== 'POST') return answer(res, 405, 'POST only');
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      answer(res, 413, 'body too large');
      req.destroy();
    } else chunks.push(chunk);
  });
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const signature = verify(SECRET, raw, req.headers);
    if (!signature) return answer(res, 401, 'signature or timestamp refused');
    if (seenSignatures.has(signature)) return answer(res, 409, 'replayed: this signed request was received before');
    remember(seenSignatures, signature);
    const id = req.headers['x-siprec-control-alert-id'] ?? '';
    if (id && handledAlerts.has(id)) return answer(res, 200, 'duplicate: already handled');
    let alert;
    try {
      alert = JSON.parse(raw.toString('utf8'));
    } catch {
      return answer(res, 400, 'body is not JSON');
    }
    handleAlert(id, alert);
    if (id) remember(handledAlerts, id);
    answer(res, 200, 'ok');
  });
});

server.listen(PORT, HOST, () => {
  const { address, port } = server.address();
  process.stdout.write(`alert-receiver listening on http://${address}:${port}/alerts\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)));
