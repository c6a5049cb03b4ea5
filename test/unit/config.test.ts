import { ConfigError, loadConfig } from '../../src/config';
import { TEST_ADMIN_TOKEN, TEST_AUTH_TOKEN, tempDir, testEnv, type TempDir } from '../helpers/env';

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const siprec = [{ connectorName: 'C1' }];
const then = { enqueue: 'q' };

describe('loadConfig', () => {
  let dir: TempDir;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.remove());

  describe('with a complete environment', () => {
    it('returns a frozen config with defaults filled in', () => {
      const env = testEnv(dir);
      delete (env as Record<string, string | undefined>).DATABASE_PATH;
      const config = loadConfig(env, dir.dir);
      expect(config.port).toBe(3000);
      expect(config.host).toBe('0.0.0.0');
      expect(config.publicBaseUrl).toBe('https://calls.example.com/siprec');
      expect(config.storage).toEqual({ kind: 'sqlite', path: dir.file('data/siprec-control.sqlite') });
      expect(config.routes[1]!.siprec[0]).toEqual({
        connectorName: 'Gridspace_1',
        name: 'Gridspace_1',
        track: 'inbound_track',
        statusCallbackMethod: 'POST',
        parameters: {},
      });
      expect(config.storeCallerNumbers).toBe('full');
      expect(config.retentionDays).toBeUndefined();
      expect(config.voiceLedgerDeadlineMs).toBe(1500);
      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.routes[0]!.siprec)).toBe(true);
      expect(() => ((config as { port: number }).port = 1)).toThrow(TypeError);
    });

    it('reads the alert settings, with defaults', () => {
      expect(loadConfig(testEnv(dir)).alerts).toEqual({
        webhookUrl: undefined,
        webhookSecret: undefined,
        startTimeoutSeconds: 30,
        errorBurstCount: 5,
        errorBurstMinutes: 5,
      });
      const config = loadConfig(
        testEnv(dir, undefined, {
          ALERT_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/x',
          ALERT_WEBHOOK_SECRET: 'sixteen-chars-ok',
          ALERT_START_TIMEOUT_SECONDS: '45',
          ALERT_ERROR_BURST_COUNT: '10',
          ALERT_ERROR_BURST_MINUTES: '15',
        }),
      );
      expect(config.alerts).toEqual({
        webhookUrl: 'https://hooks.slack.com/services/T0/B0/x',
        webhookSecret: 'sixteen-chars-ok',
        startTimeoutSeconds: 45,
        errorBurstCount: 10,
        errorBurstMinutes: 15,
      });
      expect(Object.isFrozen(config.alerts)).toBe(true);
    });

    it('drops a trailing slash from PUBLIC_BASE_URL and treats empty optionals as unset', () => {
      const config = loadConfig(testEnv(dir, undefined, { PUBLIC_BASE_URL: 'https://x.example.com/', TWILIO_AUTH_TOKEN_SECONDARY: '', PORT: '' }));
      expect(config.publicBaseUrl).toBe('https://x.example.com');
      expect(config.twilio.authTokens).toEqual([TEST_AUTH_TOKEN]);
      expect(config.port).toBe(3000);
    });
  });

  describe('with bad environment variables', () => {
    it.each([
      ['TWILIO_AUTH_TOKEN', undefined, /^TWILIO_AUTH_TOKEN: is required/],
      ['TWILIO_ACCOUNT_SID', 'AC123', /^TWILIO_ACCOUNT_SID: must be AC followed by 32/],
      ['PUBLIC_BASE_URL', 'calls.example.com', /^PUBLIC_BASE_URL: must be an absolute http\(s\) URL/],
      ['PUBLIC_BASE_URL', 'ftp://calls.example.com', /^PUBLIC_BASE_URL: must be an absolute http\(s\) URL/],
      ['PUBLIC_BASE_URL', 'https://calls.example.com/?a=1', /^PUBLIC_BASE_URL: must not carry a query/],
      ['ADMIN_TOKEN', 'short', /^ADMIN_TOKEN: must be at least 24 characters/],
      ['ADMIN_TOKEN', 'a'.repeat(24), /^ADMIN_TOKEN: has too little entropy: at most 0 bits/],
      ['ADMIN_TOKEN', 'ab'.repeat(20), /^ADMIN_TOKEN: has too little entropy: at most 2 bits/],
      ['ADMIN_TOKEN', 'abc'.repeat(10), /^ADMIN_TOKEN: has too little entropy: at most 4 bits \(length, or that of the piece it repeats, × log2 of the number of different characters; 64 needed\); generate one with openssl rand -hex 24$/],
      // Long enough that length × log2(different characters) alone reaches 64: the repetition gives them away.
      ['ADMIN_TOKEN', 'ab'.repeat(32), /^ADMIN_TOKEN: has too little entropy: at most 2 bits/],
      ['ADMIN_TOKEN', 'password'.repeat(3), /^ADMIN_TOKEN: has too little entropy: at most 22 bits/],
      ['ADMIN_TOKEN', 'changeme-'.repeat(3), /^ADMIN_TOKEN: has too little entropy: at most 27 bits/],
      ['ADMIN_TOKEN', '1234567890'.repeat(3), /^ADMIN_TOKEN: has too little entropy: at most 33 bits/],
      ['ADMIN_TOKEN', 'abcdefg'.repeat(3) + 'abc', /^ADMIN_TOKEN: has too little entropy: at most 19 bits/],
      ['PORT', '70000', /^PORT: /],
      ['PORT', 'abc', /^PORT: /],
      ['LOG_LEVEL', 'loud', /^LOG_LEVEL: /],
      ['TWILIO_API_BASE_URL', 'nope', /^TWILIO_API_BASE_URL: /],
      ['ADMIN_TOKEN', 'replace-with-at-least-24-random-characters', /^ADMIN_TOKEN: is still the placeholder from \.env\.example/],
      ['TWILIO_AUTH_TOKEN', 'replace-with-your-auth-token', /^TWILIO_AUTH_TOKEN: is still the placeholder from \.env\.example/],
      ['STORE_CALLER_NUMBERS', 'partial', /^STORE_CALLER_NUMBERS: must be full, masked or none$/],
      ['RETENTION_DAYS', '0', /^RETENTION_DAYS: must be at least 1 day$/],
      ['RETENTION_DAYS', '1.5', /^RETENTION_DAYS: must be a whole number of days$/],
      ['VOICE_LEDGER_DEADLINE_MS', '99', /^VOICE_LEDGER_DEADLINE_MS: must be at least 100$/],
      ['VOICE_LEDGER_DEADLINE_MS', '15000', /^VOICE_LEDGER_DEADLINE_MS: must be at most 10000$/],
      ['VOICE_LEDGER_DEADLINE_MS', '1.5s', /^VOICE_LEDGER_DEADLINE_MS: must be a whole number of milliseconds$/],
      ['ALERT_WEBHOOK_URL', 'hooks.slack.com/services/T0/B0/x', /^ALERT_WEBHOOK_URL: must be an absolute http\(s\) URL/],
      ['ALERT_WEBHOOK_URL', 'ftp://alerts.example.com/hook', /^ALERT_WEBHOOK_URL: must be an absolute http\(s\) URL/],
      ['ALERT_WEBHOOK_SECRET', 'fifteen-chars..', /^ALERT_WEBHOOK_SECRET: must be at least 16 characters$/],
      ['ALERT_START_TIMEOUT_SECONDS', '0', /^ALERT_START_TIMEOUT_SECONDS: must be at least 1$/],
      ['ALERT_START_TIMEOUT_SECONDS', 'soon', /^ALERT_START_TIMEOUT_SECONDS: must be a whole number of seconds$/],
      ['ALERT_ERROR_BURST_COUNT', '2.5', /^ALERT_ERROR_BURST_COUNT: must be a whole number of errors$/],
      ['ALERT_ERROR_BURST_MINUTES', '1441', /^ALERT_ERROR_BURST_MINUTES: must be at most 1440$/],
    ])('names %s=%s', (name, value, pattern) => {
      const problems = problemsOf({ ...testEnv(dir), [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(pattern);
    });

    it('lists every problem at once, one line each', () => {
      const problems = problemsOf({ ROUTES_FILE: dir.file('routes.json') });
      expect(problems.map((p) => p.split(':')[0])).toEqual(['PUBLIC_BASE_URL', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'ADMIN_TOKEN', 'ROUTES_FILE']);
    });

    it('never echoes a secret value', () => {
      const secret = 'sekrit-value-never-shown';
      const err = (() => {
        try {
          loadConfig({ ...testEnv(dir), ADMIN_TOKEN: secret.slice(0, 10), TWILIO_AUTH_TOKEN: '', TWILIO_API_KEY_SECRET: secret });
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect(err!.message).not.toContain('sekrit');
      expect(err!.message).toContain('TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET: set both or neither');
    });

    it('never echoes the alert webhook URL, which is a secret for Slack', () => {
      const problems = problemsOf({ ...testEnv(dir), ALERT_WEBHOOK_URL: 'hooks.slack.com/services/T0/B0/sekrit' });
      expect(problems).toHaveLength(1);
      expect(problems[0]).not.toContain('sekrit');
    });

    it.each([
      ['the test token', TEST_ADMIN_TOKEN],
      ['the browser suite rotated token', 'a-rotated-admin-token-0123456789'],
      ['openssl rand -hex 24', '3f9c2a7e41b8d05c6e1f9a2b7c4d8e0f1a2b3c4d5e6f7a8b'],
      ['openssl rand -hex 12, the shortest allowed', '9e107d9d372bb6826bd81d35'],
      ['openssl rand -base64 18', 'q8Zr1+Kc/0VbXy3LmN7wPt2A'],
      ['a 24-character token using only 7 different characters, never repeating (67 bits)', 'gfedcbaabcdefgacegbdfbdf'],
      // Only a piece said twice in full shortens the count: 20 × log2(8) would be 60 bits.
      ['a hex token whose last 4 characters echo its first 4 (72 bits)', '3f9ca7e1c93fe17a9c3e3f9c'],
    ])('accepts an ADMIN_TOKEN with enough entropy: %s', (_what, token) => {
      expect(loadConfig(testEnv(dir, undefined, { ADMIN_TOKEN: token })).adminToken).toBe(token);
    });

    it('never names the refused token in the entropy problem', () => {
      const problems = problemsOf({ ...testEnv(dir), ADMIN_TOKEN: 'Z'.repeat(30) });
      expect(problems).toEqual([expect.stringMatching(/^ADMIN_TOKEN: has too little entropy/)]);
      expect(problems[0]).not.toContain('ZZ');
    });

    it('reads VOICE_LEDGER_DEADLINE_MS', () => {
      expect(loadConfig(testEnv(dir, undefined, { VOICE_LEDGER_DEADLINE_MS: '2500' })).voiceLedgerDeadlineMs).toBe(2500);
    });

    it('accepts a secondary token for rotation', () => {
      const config = loadConfig({ ...testEnv(dir), TWILIO_AUTH_TOKEN_SECONDARY: 'second' });
      expect(config.twilio.authTokens).toEqual([TEST_AUTH_TOKEN, 'second']);
      expect(config.adminToken).toBe(TEST_ADMIN_TOKEN);
    });
  });

  describe('the HTTP limits: MAX_CONNECTIONS, KEEP_ALIVE_TIMEOUT_SECONDS, TRUST_PROXY', () => {
    it('defaults to 4096 connections, 65 s keep-alive and no trusted proxy', () => {
      expect(loadConfig(testEnv(dir)).http).toEqual({ maxConnections: 4096, keepAliveTimeoutSeconds: 65, trustProxy: false });
    });

    it.each([
      ['1', 1],
      ['2', 2],
      ['0', false],
      ['false', false],
      ['loopback', ['loopback']],
      ['10.0.0.0/8, 192.168.1.7,fd00::/8', ['10.0.0.0/8', '192.168.1.7', 'fd00::/8']],
      ['loopback,uniquelocal,linklocal', ['loopback', 'uniquelocal', 'linklocal']],
    ])('reads TRUST_PROXY=%s as Express reads it', (value, expected) => {
      const config = loadConfig(testEnv(dir, undefined, { TRUST_PROXY: value }));
      expect(config.http.trustProxy).toEqual(expected);
    });

    it('reads MAX_CONNECTIONS and KEEP_ALIVE_TIMEOUT_SECONDS', () => {
      const config = loadConfig(testEnv(dir, undefined, { MAX_CONNECTIONS: '500', KEEP_ALIVE_TIMEOUT_SECONDS: '125' }));
      expect(config.http).toEqual({ maxConnections: 500, keepAliveTimeoutSeconds: 125, trustProxy: false });
    });

    it.each([
      ['TRUST_PROXY', 'true', /^TRUST_PROXY: true would trust any X-Forwarded-For a client sends/],
      ['TRUST_PROXY', 'yes', /^TRUST_PROXY: "yes" is not/],
      ['TRUST_PROXY', '10.0.0.0/33', /^TRUST_PROXY: "10.0.0.0\/33" is not/],
      ['TRUST_PROXY', '10.0.0.1,,10.0.0.2', /^TRUST_PROXY: "" is not/],
      ['TRUST_PROXY', '-1', /^TRUST_PROXY: "-1" is not/],
      ['MAX_CONNECTIONS', '10', /^MAX_CONNECTIONS: must be at least 64$/],
      ['MAX_CONNECTIONS', 'many', /^MAX_CONNECTIONS: must be a whole number of connections$/],
      ['KEEP_ALIVE_TIMEOUT_SECONDS', '0', /^KEEP_ALIVE_TIMEOUT_SECONDS: must be at least 1$/],
      ['KEEP_ALIVE_TIMEOUT_SECONDS', '601', /^KEEP_ALIVE_TIMEOUT_SECONDS: must be at most 600$/],
    ])('names %s=%s', (name, value, pattern) => {
      const problems = problemsOf({ ...testEnv(dir), [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(pattern);
    });
  });

  describe('the storage: DATABASE_PATH or DATABASE_URL', () => {
    const sqliteFree = () => {
      const env: Record<string, string | undefined> = testEnv(dir);
      delete env.DATABASE_PATH;
      return env as Record<string, string>;
    };

    it('selects PostgreSQL with DATABASE_URL, with a pool of 10 by default', () => {
      const url = 'postgres://siprec:pw@db1:5432,db2:5432/siprec?target_session_attrs=read-write&sslmode=require';
      expect(loadConfig({ ...sqliteFree(), DATABASE_URL: url }).storage).toEqual({ kind: 'postgres', url, poolSize: 10 });
      expect(loadConfig({ ...sqliteFree(), DATABASE_URL: 'postgresql://db/siprec', DATABASE_POOL_SIZE: '25' }).storage).toEqual({
        kind: 'postgres',
        url: 'postgresql://db/siprec',
        poolSize: 25,
      });
    });

    it('keeps SQLite at DATABASE_PATH when DATABASE_URL is unset or empty', () => {
      expect(loadConfig({ ...testEnv(dir), DATABASE_URL: '' }).storage).toEqual({ kind: 'sqlite', path: dir.file('ledger.sqlite') });
    });

    it.each([
      [{ DATABASE_URL: 'mysql://db/siprec' }, /^DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/],
      [{ DATABASE_URL: 'postgres://' }, /^DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/],
      [{ DATABASE_URL: 'postgres://db/x', DATABASE_POOL_SIZE: '0' }, /^DATABASE_POOL_SIZE: must be at least 1$/],
    ])('refuses %j', (extra, pattern) => {
      const problems = problemsOf({ ...sqliteFree(), ...extra });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(pattern);
    });

    it('refuses DATABASE_URL and DATABASE_PATH together, and never shows the password', () => {
      const problems = problemsOf({ ...testEnv(dir), DATABASE_URL: 'postgres://siprec:hunter2-secret@db/siprec' });
      expect(problems).toEqual(['DATABASE_URL and DATABASE_PATH: set one (PostgreSQL or a SQLite file), not both']);
      expect(problems.join('\n')).not.toContain('hunter2');
    });

    it('never shows the password of a URL it refuses', () => {
      const problems = problemsOf({ ...sqliteFree(), DATABASE_URL: 'mysql://siprec:hunter2-secret@db/siprec' });
      expect(problems.join('\n')).not.toContain('hunter2');
    });
  });

  describe('with a bad routes file', () => {
    const problemFor = (routes: unknown) => {
      const env = testEnv(dir, routes);
      return problemsOf(env).map((p) => p.replace(env.ROUTES_FILE!, 'routes.json'));
    };

    it('says when the file is missing', () => {
      const problems = problemsOf({ ...testEnv(dir), ROUTES_FILE: dir.file('none.json') });
      expect(problems).toEqual([expect.stringMatching(/^ROUTES_FILE: cannot read .*none\.json \(ENOENT\)/)]);
    });

    it('says when the file is not JSON', () => {
      expect(problemFor('{"routes": [')).toEqual([expect.stringMatching(/^ROUTES_FILE: .* is not valid JSON/)]);
    });

    it.each([
      ['no default route', { routes: [{ to: ['+15550000001'], siprec, then }] }, 'routes.json.routes: exactly one route must have no "to" (the default); found 0'],
      ['two default routes', { routes: [{ siprec, then }, { siprec, then }] }, 'routes.json.routes: exactly one route must have no "to" (the default); found 2'],
      ['a default route that is not last', { routes: [{ siprec, then }, { to: ['+15550000001'], siprec, then }] }, 'routes.json.routes[0]: the default route (no "to") must be last'],
      ['a route without then', { routes: [{ siprec }] }, 'routes.json.routes[0].then: then must be exactly one of { "dial": … }, { "redirect": … }, { "enqueue": … }'],
      ['a then with two kinds', { routes: [{ siprec, then: { dial: '+15551230000', enqueue: 'q' } }] }, 'routes.json.routes[0].then: then must be exactly one of { "dial": … }, { "redirect": … }, { "enqueue": … }'],
      ['three siprec entries', { routes: [{ siprec: [{ connectorName: 'a' }, { connectorName: 'b' }, { connectorName: 'c' }], then }] }, 'routes.json.routes[0].siprec: siprec allows at most 2 entries (a call has at most four forked streams, two per <Siprec>)'],
      ['no siprec entry', { routes: [{ siprec: [], then }] }, 'routes.json.routes[0].siprec: siprec needs at least one entry'],
      ['a missing connectorName', { routes: [{ siprec: [{ name: 'x' }], then }] }, 'routes.json.routes[0].siprec[0].connectorName: connectorName must be a string'],
      ['a bad name', { routes: [{ siprec: [{ connectorName: 'C', name: 'has space' }], then }] }, 'routes.json.routes[0].siprec[0].name: name must be 1-64 characters of A-Z, a-z, 0-9, _ or -'],
      ['a connectorName that cannot be a name', { routes: [{ siprec: [{ connectorName: 'My Connector' }], then }] }, 'routes.json.routes[0].siprec[0].name: name defaults to connectorName, which is not 1-64 characters of A-Z, a-z, 0-9, _ or -: give a name'],
      ['duplicate names in a route', { routes: [{ siprec: [{ connectorName: 'C' }, { connectorName: 'C' }], then }] }, 'routes.json.routes[0].siprec[1].name: name "C" is used twice in this route; Twilio needs a name unique per call'],
      ['a bad track', { routes: [{ siprec: [{ connectorName: 'C', track: 'left' }], then }] }, 'routes.json.routes[0].siprec[0].track: track must be one of inbound_track, outbound_track, both_tracks'],
      ['a bad callback method', { routes: [{ siprec: [{ connectorName: 'C', statusCallbackMethod: 'PUT' }], then }] }, 'routes.json.routes[0].siprec[0].statusCallbackMethod: statusCallbackMethod must be POST or GET'],
      ['an unknown placeholder', { routes: [{ siprec: [{ connectorName: 'C', parameters: { P: '{Frm}' } }], then }] }, 'routes.json.routes[0].siprec[0].parameters.P: unknown placeholder {Frm}; known: {From}, {To}, {CallSid}, {AccountSid}, {Direction}, {CallerName}, {ForwardedFrom}'],
      ['a parameter of 500 characters', { routes: [{ siprec: [{ connectorName: 'C', parameters: { P: 'x'.repeat(499) } }], then }] }, 'routes.json.routes[0].siprec[0].parameters.P: name plus value must stay under 500 characters'],
      ['a non-string parameter value', { routes: [{ siprec: [{ connectorName: 'C', parameters: { P: 5 } }], then }] }, 'routes.json.routes[0].siprec[0].parameters.P: a parameter value must be a string'],
      ['an unknown key', { routes: [{ siprec, then, from: [] }] }, expect.stringMatching(/^routes\.json\.routes\[0\]: .*from/)],
      ['a bad dial target', { routes: [{ siprec, then: { dial: '555-1234' } }] }, 'routes.json.routes[0].then.dial: then.dial must be an E.164 number (+15551230000), a sip: URI or a client: identity'],
      ['a relative redirect', { routes: [{ siprec, then: { redirect: '/next' } }] }, 'routes.json.routes[0].then.redirect: must be an absolute https URL'],
      ['a plain-http redirect', { routes: [{ siprec, then: { redirect: 'http://x' } }] }, 'routes.json.routes[0].then.redirect: must be an absolute https URL'],
      // WHATWG URL reads it as https://foo/, a resolver relative to our own URL as a path on our host.
      ['a redirect with no host after https:', { routes: [{ siprec, then: { redirect: 'https:ivr.example.com/next' } }] }, 'routes.json.routes[0].then.redirect: must be an absolute https URL'],
      ['a redirect with white space', { routes: [{ siprec, then: { redirect: 'https://ivr.example.com/next step' } }] }, 'routes.json.routes[0].then.redirect: must not contain white space'],
      ['an empty list of routes', { routes: [] }, 'routes.json.routes: routes must hold at least the default route'],
      ['a number twice in one route', { routes: [{ to: ['+15550000001', '+15550000001'], siprec, then }, { siprec, then }] }, 'routes.json.routes[0].to[1]: +15550000001 is listed twice in this route'],
      ['a dial number too short to exist', { routes: [{ siprec, then: { dial: '+1555' } }] }, 'routes.json.routes[0].then.dial: +1555 is not a possible phone number: too short for country code +1'],
      ['a dial number too long to exist', { routes: [{ siprec, then: { dial: '+442071838750123' } }] }, 'routes.json.routes[0].then.dial: +442071838750123 is not a possible phone number: too long for country code +44'],
      ['a to number with no country', { routes: [{ to: ['+999123456789'], siprec, then }, { siprec, then }] }, 'routes.json.routes[0].to[0]: +999123456789 is not a possible phone number: no country has this calling code'],
      ['a to number too short to exist', { routes: [{ to: ['+1415555010'], siprec, then }, { siprec, then }] }, 'routes.json.routes[0].to[0]: +1415555010 is not a possible phone number: too short for country code +1'],
      ['an object parameter value', { routes: [{ siprec: [{ connectorName: 'C', parameters: { P: { x: 1 } } }], then }] }, 'routes.json.routes[0].siprec[0].parameters.P: a parameter value must be a string'],
      ['a null parameter value', { routes: [{ siprec: [{ connectorName: 'C', parameters: { P: null } }], then }] }, 'routes.json.routes[0].siprec[0].parameters.P: a parameter value must be a string'],
      ['a to that is not E.164', { routes: [{ to: ['5550001111'], siprec, then }, { siprec, then }] }, 'routes.json.routes[0].to[0]: must be an E.164 number such as +15550001111'],
      ['a number in two routes', { routes: [{ to: ['+15550000001'], siprec, then }, { to: ['+15550000001'], siprec, then }, { siprec, then }] }, 'routes.json.routes[1].to[0]: +15550000001 is already routed by routes[0], so this entry could never match'],
    ])('names the JSON path for %s', (_what, routes, expected) => {
      expect(problemFor(routes)).toEqual([expected]);
    });

    it.each([
      ['a parameter', '{"routes":[{"siprec":[{"connectorName":"C","parameters":{"__proto__":"x","A":"b"}}],"then":{"enqueue":"q"}}]}', 'routes.json.routes[0].siprec[0].parameters.__proto__'],
      ['a parameter holding an object', '{"routes":[{"siprec":[{"connectorName":"C","parameters":{"__proto__":{"A":"b"}}}],"then":{"enqueue":"q"}}]}', 'routes.json.routes[0].siprec[0].parameters.__proto__'],
      ['a route', '{"routes":[{"siprec":[{"connectorName":"C"}],"then":{"enqueue":"q"},"__proto__":{}}]}', 'routes.json.routes[0].__proto__'],
    ])('refuses "__proto__" as the key of %s, which JavaScript would drop silently', (_what, text, path) => {
      expect(problemFor(text)).toEqual([`${path}: "__proto__" cannot be a key: JavaScript drops it without a word; rename it`]);
    });

    it('reports every problem of the file in one run, in file order', () => {
      const routes = {
        routes: [
          { to: ['+15550000001'], siprec: [{ connectorName: 'C', track: 'left', parameters: { P: '{Frm}' } }, { connectorName: 'C' }], then: { dial: '+1555' } },
          { siprec: [{ connectorName: 'My Connector' }], then: { redirect: 'http://ivr.example.com/next' } },
          { to: ['+15550000001'], siprec: 'gridspace' },
          { siprec, then },
        ],
      };
      expect(problemFor(routes)).toEqual([
        'routes.json.routes: exactly one route must have no "to" (the default); found 2',
        'routes.json.routes[0].siprec[0].track: track must be one of inbound_track, outbound_track, both_tracks',
        'routes.json.routes[0].siprec[0].parameters.P: unknown placeholder {Frm}; known: {From}, {To}, {CallSid}, {AccountSid}, {Direction}, {CallerName}, {ForwardedFrom}',
        'routes.json.routes[0].siprec[1].name: name "C" is used twice in this route; Twilio needs a name unique per call',
        'routes.json.routes[0].then.dial: +1555 is not a possible phone number: too short for country code +1',
        'routes.json.routes[1].siprec[0].name: name defaults to connectorName, which is not 1-64 characters of A-Z, a-z, 0-9, _ or -: give a name',
        'routes.json.routes[1].then.redirect: must be an absolute https URL',
        'routes.json.routes[2].to[0]: +15550000001 is already routed by routes[0], so this entry could never match',
        'routes.json.routes[2].siprec: siprec must be a list of 1 or 2 entries',
        'routes.json.routes[2].then: then must be exactly one of { "dial": … }, { "redirect": … }, { "enqueue": … }',
      ]);
    });

    it('accepts the numbers of the README, the example routes file and the demo, which are possible though fictional', () => {
      const config = loadConfig(testEnv(dir, { routes: [{ to: ['+15550001111', '+15550002222', '+15550009999'], siprec, then: { dial: '+15551230000' } }, { siprec, then: { dial: '+442071838750' } }] }));
      expect(config.routes[0]!.to).toEqual(['+15550001111', '+15550002222', '+15550009999']);
    });

    it('accepts a parameter of 499 characters in all', () => {
      const env = testEnv(dir, { routes: [{ siprec: [{ connectorName: 'C', parameters: { P: 'x'.repeat(498) } }], then }] });
      expect(loadConfig(env).routes[0]!.siprec[0]!.parameters.P).toHaveLength(498);
    });
  });
});
