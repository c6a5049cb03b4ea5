import { createServer, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import request from 'supertest';
import { FORM_LIMIT_BYTES, FORM_PARAMETER_LIMIT } from '../../src/http/form-body';
import { TEST_PUBLIC_BASE_URL } from '../helpers/env';
import { ledgerSize } from '../helpers/operator-api';
import { createTestApp, type TestApp } from '../helpers/test-app';
import { buildStatusCallback, buildVoiceForm, sign } from '../helpers/twilio-requests';

type Pairs = Array<[string, string]>;
const RUNS = { numRuns: 60 };

/** The three Twilio routes, each with a request Twilio would really send (stop runs inside a call). */
const ROUTES = {
  voice: { path: '/twilio/voice', form: () => buildVoiceForm() },
  status: { path: '/twilio/siprec-status', form: () => buildStatusCallback() },
  stop: { path: '/twilio/siprec-stop?name=gridspace&next=https%3A%2F%2Fivr.example.com%2Fnext', form: () => buildVoiceForm() },
};
const route = fc.constantFrom(...Object.values(ROUTES));

const LEAK = /\n\s*at |\bat \S+ \(|\w\.(?:ts|js):\d+|\/(?:work|home|src|dist|node_modules)\//;
const WELL_FORMED = ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8'];
const CONTENT_TYPES = [...WELL_FORMED, 'application/json', 'text/plain', 'text/xml', 'multipart/form-data; boundary=x', 'application/octet-stream',
  'application/x-www-form-urlencoded; charset=utf-16', 'application/x-www-form-urlencoded; charset=koi8-r', 'application/x-www-form-urlencoded; charset=nonsense', 'x/y', ';;;'];
// Weighted towards what reaches the form parser: a POST with a form content type.
const method = fc.oneof({ arbitrary: fc.constant('POST'), weight: 4 }, fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'));
const contentType = fc.oneof({ arbitrary: fc.constantFrom(...WELL_FORMED), weight: 3 }, fc.constantFrom(...CONTENT_TYPES), fc.constant(null));
/** Names that reach Object.prototype, bracket syntax, and plain junk. */
const paramName = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', 'a[b]', 'a[]', '[]', '', '=', 'CallSid', 'AccountSid', 'SiprecSid', 'Timestamp'),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const paramValue = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom('', '%', '%zz', '&=&', '\u0000', '<x/>', 'null'));
const pairs = fc.array(fc.tuple(paramName, paramValue), { maxLength: 25 });
const oneChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
const urlChar = fc.constantFrom(...'abzAZ09-._~%/?&='.split(''));
const headerValue = fc.stringMatching(/^[!-~][ -~]{0,40}$/);
const headers = fc.dictionary(
  fc.oneof(fc.constantFrom('host', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for', 'x-request-id', 'accept', 'accept-charset', 'cookie', 'authorization', 'i-twilio-idempotency-token', 'x-http-method-override'), fc.stringMatching(/^x-[a-z0-9-]{1,20}$/)),
  headerValue,
  { maxKeys: 6 },
);
const contentEncoding = fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown'), { freq: 2 });

/** One substitution, insertion or deletion in `s`, never leaving it unchanged. */
const changed = (s: string, char: fc.Arbitrary<string> = oneChar) =>
  fc
    .tuple(fc.constantFrom('substitute', 'insert', 'delete'), fc.nat(), char)
    .map(([kind, at, c]) => {
      const i = at % (s.length + (kind === 'insert' ? 1 : 0));
      return s.slice(0, i) + (kind === 'delete' ? '' : c) + s.slice(kind === 'insert' ? i : i + 1);
    })
    .filter((m) => m !== s);

const raw = (body: unknown) => body as string;
/** The path and the decoded query parameters in order: what a request asks for, however spelled. */
const meaning = (pathAndQuery: string) => {
  const u = new URL(pathAndQuery, 'https://host.invalid');
  return JSON.stringify([u.pathname, [...u.searchParams]]);
};
const encode = (p: Pairs | Record<string, string>) => new URLSearchParams(Array.isArray(p) ? p : Object.entries(p)).toString();

describe('hostile input on /twilio/*', () => {
  let t: TestApp;
  let server: Server;
  const rows = () => ledgerSize(t);
  const http = () => request(server);
  const expectNoLeak = (res: request.Response) => {
    expect(res.status).toBeLessThan(500);
    expect(res.text ?? '').not.toMatch(LEAK);
  };
  /** Sends `pairs` signed for exactly what is sent, so that only the field values are hostile. */
  const postSigned = (path: string, body: Pairs | Record<string, string>) => {
    const params: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(encode(body))) params[k] = Object.hasOwn(params, k) ? ([] as string[]).concat(params[k]!, v) : v;
    return http().post(path).type('form').set('X-Twilio-Signature', sign(TEST_PUBLIC_BASE_URL + path, params)).send(encode(body));
  };

  beforeAll(async () => {
    t = await createTestApp();
    server = createServer(t.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await t.close();
  });

  describe('without a valid signature', () => {
    it('random methods, paths, headers, content types and bodies: a 4xx, no stack trace, nothing stored', async () => {
      const body = fc.oneof(pairs.map(encode), fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)));
      const target = fc.oneof(route.map((r) => r.path), fc.stringMatching(/^\/twilio\/[a-z0-9-]{0,12}(\?[a-z0-9=&%]{0,20})?$/));
      await fc.assert(
        fc.asyncProperty(method, target, headers, contentType, contentEncoding, body, fc.option(headerValue), async (method, path, h, type, encoding, payload, signature) => {
          let req = http()[method.toLowerCase() as 'get'](path).set(h);
          if (signature !== null) req = req.set('X-Twilio-Signature', signature);
          if (type !== null) req = req.set('Content-Type', type);
          if (encoding !== null) req = req.set('Content-Encoding', encoding);
          const before = await rows();
          // serialize: send the bytes as they are, not re-encoded by superagent as a form or JSON.
          const res = method === 'GET' || method === 'HEAD' ? await req : await req.serialize(raw).send(payload);
          expectNoLeak(res);
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(await rows()).toBe(before);
        }),
        RUNS,
      );
    });
  });

  describe('with a valid signature over hostile values', () => {
    it('random extra parameters and random values in Twilio’s fields: never a 5xx or a stack trace; a refusal stores nothing', async () => {
      let reachedHandler = 0;
      await fc.assert(
        fc.asyncProperty(route, pairs, fc.dictionary(fc.constantFrom('CallSid', 'To', 'From', 'SiprecName', 'SiprecEvent', 'Timestamp', 'SiprecErrorCode', 'Direction'), paramValue), async (r, extra, overrides) => {
          const before = await rows();
          const res = await postSigned(r.path, [...Object.entries({ ...r.form(), ...overrides }), ...extra]);
          expectNoLeak(res);
          // 403 only where the form parser reads other parameters than were signed (it drops empty
          // and __proto__ names, and renames "[]"): Twilio never sends those.
          expect([200, 204, 400, 403]).toContain(res.status);
          if (res.status >= 400) expect(await rows()).toBe(before);
          if (res.status !== 403) reachedHandler++;
        }),
        RUNS,
      );
      // Not vacuous: about half the runs carry a name the parser rewrites (so 403); a quarter keeps
      // this from failing by chance (P < 1e-4 at 60 runs) while still proving the handler is reached.
      expect(reachedHandler).toBeGreaterThan(RUNS.numRuns / 4);
    });

    it('random headers beside a genuine voice request change nothing: the call is answered and recorded once', async () => {
      await fc.assert(
        fc.asyncProperty(headers, async (h) => {
          const form = buildVoiceForm();
          const res = await postSigned(ROUTES.voice.path, form).set(h);
          expect(res.status).toBe(200);
          expect(res.text).toContain('<Siprec');
          expect((await t.store.getCall(form.CallSid!))?.call.callSid).toBe(form.CallSid);
        }),
        RUNS,
      );
    });
  });

  describe('a one-character change to a signed request', () => {
    const forged = async (res: request.Response, before: number) => {
      expectNoLeak(res);
      expect(res.status).toBe(403);
      expect(await rows()).toBe(before);
    };

    it('in a parameter name or value → 403, nothing stored', async () => {
      const mutation = route.chain((r) => {
        const form = r.form();
        const entries = Object.entries(form);
        return fc.record({
          r: fc.constant(r),
          form: fc.constant(form),
          sent: fc.nat(entries.length - 1).chain((i) =>
            fc.boolean().chain((inName) =>
              changed(entries[i]![inName ? 0 : 1]).map((m) => entries.map((e, j): [string, string] => (j !== i ? e : inName ? [m, e[1]] : [e[0], m]))),
            ),
          ),
        });
      });
      await fc.assert(
        fc.asyncProperty(mutation, async ({ r, form, sent }) => {
          const before = await rows();
          const signature = sign(TEST_PUBLIC_BASE_URL + r.path, form);
          await forged(await http().post(r.path).type('form').set('X-Twilio-Signature', signature).send(encode(sent)), before);
        }),
        RUNS,
      );
    });

    it('in the path or query it is sent to → 403, nothing stored, unless it reads exactly the same', async () => {
      const mutation = route.chain((r) => fc.tuple(fc.constant(r), changed(r.path.slice('/twilio/'.length), urlChar)));
      await fc.assert(
        fc.asyncProperty(mutation, fc.boolean(), async ([r, rest], asGet) => {
          const before = await rows();
          const form = r.form();
          // Twilio may use GET: then the parameters are in the signed URL's query.
          const withForm = (p: string) => (asGet ? `${p}${p.includes('?') ? '&' : '?'}${encode(form)}` : p);
          const signedPath = withForm(r.path);
          const sentPath = withForm(`/twilio/${rest}`);
          const req = asGet ? http().get(sentPath) : http().post(sentPath).type('form').send(encode(form));
          const res = await req.set('X-Twilio-Signature', sign(TEST_PUBLIC_BASE_URL + signedPath, asGet ? {} : form));
          // twilio.validateRequest also accepts a spelling of the signed query that decodes to the same
          // parameters (a stray "&", a trailing "?", %3a for %3A): the same request, so no forgery.
          if (meaning(sentPath) === meaning(signedPath)) expect([200, 204, 403]).toContain(res.status);
          else await forged(res, before);
        }),
        RUNS,
      );
    });

    it('in the URL it was signed for (scheme, host, base path or route) → 403, nothing stored', async () => {
      const mutation = route.chain((r) => fc.tuple(fc.constant(r), changed(TEST_PUBLIC_BASE_URL + r.path)));
      await fc.assert(
        fc.asyncProperty(mutation, async ([r, signedUrl]) => {
          const before = await rows();
          const form = r.form();
          await forged(await http().post(r.path).type('form').set('X-Twilio-Signature', sign(signedUrl, form)).send(encode(form)), before);
        }),
        RUNS,
      );
    });
  });

  describe('spoofed Host, X-Forwarded-Host and X-Forwarded-Proto', () => {
    const spoof = fc.record({
      host: fc.stringMatching(/^[a-z0-9-]{1,20}\.(example|test)(:[0-9]{2,5})?$/),
      proto: fc.constantFrom('http', 'https', 'ws', 'HTTPS'),
      prefix: fc.constantFrom('', '/siprec', '/other'),
    });
    const spoofed = (s: { host: string; proto: string }) => ({ Host: s.host, 'X-Forwarded-Host': s.host, 'X-Forwarded-Proto': s.proto });

    it('do not stop a request signed for PUBLIC_BASE_URL', async () => {
      await fc.assert(
        fc.asyncProperty(spoof, route, async (s, r) => {
          const res = await postSigned(r.path, r.form()).set(spoofed(s));
          expect([200, 204]).toContain(res.status);
        }),
        RUNS,
      );
    });

    it('do not admit a request signed for the URL they describe → 403, nothing stored', async () => {
      await fc.assert(
        fc.asyncProperty(spoof, route, async (s, r) => {
          const before = await rows();
          const form = r.form();
          const attackerUrl = `${s.proto}://${s.host}${s.prefix}${r.path}`;
          const res = await http().post(r.path).type('form').set(spoofed(s)).set('X-Twilio-Signature', sign(attackerUrl, form)).send(encode(form));
          expectNoLeak(res);
          expect(res.status).toBe(403);
          expect(await rows()).toBe(before);
        }),
        RUNS,
      );
    });
  });

  describe('limits', () => {
    it(`a body over ${FORM_LIMIT_BYTES / 1024} KB → 413, signed or not, nothing stored`, async () => {
      await fc.assert(
        fc.asyncProperty(route, fc.integer({ min: FORM_LIMIT_BYTES + 1, max: 4 * FORM_LIMIT_BYTES }), fc.boolean(), async (r, size, signed) => {
          const before = await rows();
          const form = { ...r.form(), Padding: '' };
          form.Padding = 'x'.repeat(size - encode(form).length);
          const res = await (signed ? postSigned(r.path, form) : http().post(r.path).type('form').set('X-Twilio-Signature', 'x').send(encode(form)));
          expectNoLeak(res);
          expect(res.status).toBe(413);
          expect(await rows()).toBe(before);
        }),
        { numRuns: 15 },
      );
    });

    it(`more than ${FORM_PARAMETER_LIMIT} parameters → 413; exactly ${FORM_PARAMETER_LIMIT} are read`, async () => {
      await fc.assert(
        fc.asyncProperty(route, fc.integer({ min: FORM_PARAMETER_LIMIT + 1, max: 5 * FORM_PARAMETER_LIMIT }), async (r, count) => {
          const before = await rows();
          const form = r.form();
          const extra = Array.from({ length: count - Object.keys(form).length }, (_, i): [string, string] => [`P${i}`, 'v']);
          const res = await postSigned(r.path, [...Object.entries(form), ...extra]);
          expectNoLeak(res);
          expect(res.status).toBe(413);
          expect(await rows()).toBe(before);
        }),
        { numRuns: 15 },
      );
      const form = buildStatusCallback();
      const extra = Array.from({ length: FORM_PARAMETER_LIMIT - Object.keys(form).length }, (_, i): [string, string] => [`P${i}`, 'v']);
      await postSigned(ROUTES.status.path, [...Object.entries(form), ...extra]).expect(204);
    });

    it.each([
      ['a gzip bomb (1 MB in 1 KB) → 413', gzipSync(encode({ ...buildVoiceForm(), Padding: '0'.repeat(1024 * 1024) })), 413],
      ['a body that says gzip and is not → 400', Buffer.from(encode(buildVoiceForm())), 400],
      ['a gzip body cut short → 400', gzipSync(encode(buildVoiceForm())).subarray(0, 40), 400],
    ])('%s, nothing stored', async (_what, body, status) => {
      const before = await rows();
      expect(body.length).toBeLessThan(FORM_LIMIT_BYTES);
      const res = await http().post(ROUTES.voice.path).type('form').set('Content-Encoding', 'gzip').set('X-Twilio-Signature', 'x').serialize(raw).send(body);
      expectNoLeak(res);
      expect(res.status).toBe(status);
      expect(await rows()).toBe(before);
    });

    it('a body that is not a form, or a form in a charset other than UTF-8 or Latin-1 → 415, signed or not, nothing stored', async () => {
      const unsupported = CONTENT_TYPES.filter((c) => !WELL_FORMED.includes(c));
      await fc.assert(
        fc.asyncProperty(route, fc.constantFrom(...unsupported), fc.boolean(), async (r, type, signed) => {
          const before = await rows();
          const form = r.form();
          const signature = signed ? sign(TEST_PUBLIC_BASE_URL + r.path, form) : 'x';
          const res = await http().post(r.path).set('Content-Type', type).set('X-Twilio-Signature', signature).send(encode(form));
          expectNoLeak(res);
          expect(res.status).toBe(415);
          expect(await rows()).toBe(before);
        }),
        RUNS,
      );
    });
  });
});
