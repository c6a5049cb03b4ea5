import { writeFileSync } from 'node:fs';
import { runCli } from '../helpers/cli-process';
import { DEFAULT_TEST_ROUTES, TEST_ADMIN_TOKEN, TEST_AUTH_TOKEN, tempDir, testEnv, type TempDir } from '../helpers/env';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { buildVoiceForm, newCallSid, sign } from '../helpers/twilio-requests';
import { parseXml } from '../helpers/xml';

const cli = runCli;

describe('siprec-control CLI', () => {
  let dir: TempDir;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.remove());

  describe('--help', () => {
    it.each([['serve'], ['check-config'], ['twiml'], ['simulate'], ['firewall']])('prints the usage of %s with an example and exits 0', async (command) => {
      const { code, stdout, stderr } = await cli([command, '--help'], {}, dir.dir);
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: siprec-control ${command}`);
      expect(stdout).toMatch(/Example:\n {2}\S/);
      expect(stderr).toBe('');
    });

    it('lists every command at the top level', async () => {
      const { code, stdout } = await cli(['--help'], {}, dir.dir);
      expect(code).toBe(0);
      for (const command of ['serve', 'check-config', 'twiml', 'simulate', 'firewall']) expect(stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    });
  });

  describe('with bad usage', () => {
    it.each([
      [['twiml', '--to', '+15550001111', '--bogus'], /Unknown option '--bogus'/],
      [['firewall', '--format'], /argument missing/],
      [['check-config', 'extra'], /Unexpected argument 'extra'/],
      [['twiml'], /--to is required/],
      [['simulate'], /--url is required/],
      [['simulate', '--url', 'ftp://example.com'], /--url must be an absolute http\(s\) URL/],
      [['firewall', '--format', 'pf'], /--format must be one of nftables, iptables, json/],
    ])('%j exits 2 with the problem and the usage on stderr', async (args, problem) => {
      const { code, stdout, stderr } = await cli(args, testEnv(dir), dir.dir);
      expect(code).toBe(2);
      expect(stderr).toMatch(problem);
      expect(stderr).toContain(`Usage: siprec-control ${args[0]}`);
      expect(stdout).toBe('');
    });

    it('refuses an unknown command with exit 2', async () => {
      const { code, stderr } = await cli(['fly'], {}, dir.dir);
      expect(code).toBe(2);
      expect(stderr).toContain('unknown command "fly"');
    });
  });

  describe('check-config', () => {
    it('exits 0 with a summary that names the webhook URL and routes and never a secret', async () => {
      const env = testEnv(dir);
      const { code, stdout, stderr } = await cli(['check-config'], env, dir.dir);
      expect(code).toBe(0);
      expect(stdout).toContain('configuration ok');
      expect(stdout).toContain('voice webhook:    https://calls.example.com/siprec/twilio/voice');
      expect(stdout).toContain('routes[0] to +15550001111: gridspace (Gridspace_1, both_tracks), compliance (Compliance_SRS, inbound_track); then redirect https://ivr.example.com/voice');
      expect(stdout + stderr).not.toContain(TEST_AUTH_TOKEN);
      expect(stdout + stderr).not.toContain(TEST_ADMIN_TOKEN);
    });

    it('reads .env in the working folder, as the server does', async () => {
      const env = testEnv(dir);
      writeFileSync(dir.file('.env'), Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''));
      const { code, stdout } = await cli(['check-config'], {}, dir.dir);
      expect(code).toBe(0);
      expect(stdout).toContain(`.env:             ${dir.file('.env')}`);
    });

    it('exits 1 naming each bad variable, without echoing its value', async () => {
      const env = { ...testEnv(dir), PUBLIC_BASE_URL: 'calls.example.com', ADMIN_TOKEN: 'too-short-secret' };
      const { code, stdout, stderr } = await cli(['check-config'], env, dir.dir);
      expect(code).toBe(1);
      expect(stderr).toContain('configuration has 2 problems');
      expect(stderr).toContain('  - PUBLIC_BASE_URL: must be an absolute http(s) URL');
      expect(stderr).toContain('  - ADMIN_TOKEN: must be at least 24 characters');
      expect(stdout + stderr).not.toContain('too-short-secret');
    });

    it('exits 1 naming the JSON path of a bad routes file entry', async () => {
      const routes = structuredClone(DEFAULT_TEST_ROUTES) as { routes: Array<{ siprec: Array<Record<string, unknown>> }> };
      routes.routes[0]!.siprec[1]!.track = 'sideways';
      const { code, stderr } = await cli(['check-config'], testEnv(dir, routes), dir.dir);
      expect(code).toBe(1);
      expect(stderr).toContain(`${dir.file('routes.json')}.routes[0].siprec[1].track: track must be one of inbound_track, outbound_track, both_tracks`);
    });

    it('refuses the placeholder admin token from .env.example with exit 1', async () => {
      const { code, stderr } = await cli(['check-config'], testEnv(dir, undefined, { ADMIN_TOKEN: 'replace-with-at-least-24-random-characters' }), dir.dir);
      expect(code).toBe(1);
      expect(stderr).toContain('ADMIN_TOKEN: is still the placeholder from .env.example; set a real value');
    });

    it('warns that plain http sends call details unencrypted and leaves the page without HSTS, but still exits 0', async () => {
      const { code, stderr } = await cli(['check-config'], testEnv(dir, undefined, { PUBLIC_BASE_URL: 'http://siprec.internal:3000' }), dir.dir);
      expect(code).toBe(0);
      expect(stderr).toBe(
        'warning: PUBLIC_BASE_URL: plain http; Twilio will send call details unencrypted, and the status page is served without HSTS or upgrade-insecure-requests (the admin token crosses the network in the clear). Use https in production\n',
      );
    });

    it.each(['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000'])('does not warn about plain http on loopback (%s), where nothing crosses a network', async (url) => {
      const { code, stderr } = await cli(['check-config'], testEnv(dir, undefined, { PUBLIC_BASE_URL: url }), dir.dir);
      expect(code).toBe(0);
      expect(stderr).toBe('');
    });

    it('lists every problem of the routes file in one run, "__proto__" and non-string parameter values included', async () => {
      const text = JSON.stringify({
        routes: [
          { to: ['+15550001111'], siprec: [{ connectorName: 'C', parameters: { Team: 7, Caller: '{From}' } }], then: { redirect: 'http://ivr.example.com' } },
          { siprec: [{ connectorName: 'C', parameters: { X: 'y' } }], then: { dial: '+1555' } },
        ],
      }).replace('"X":"y"', '"__proto__":"y"');
      const { code, stderr } = await cli(['check-config'], testEnv(dir, text), dir.dir);
      expect(code).toBe(1);
      const file = dir.file('routes.json');
      expect(stderr).toBe(
        [
          'configuration has 4 problems:',
          `  - ${file}.routes[0].siprec[0].parameters.Team: a parameter value must be a string`,
          `  - ${file}.routes[0].then.redirect: must be an absolute https URL`,
          `  - ${file}.routes[1].siprec[0].parameters.__proto__: "__proto__" cannot be a key: JavaScript drops it without a word; rename it`,
          `  - ${file}.routes[1].then.dial: +1555 is not a possible phone number: too short for country code +1`,
          '',
        ].join('\n'),
      );
    });

    it('warns about the example account SID from .env.example but still exits 0', async () => {
      const { code, stderr } = await cli(['check-config'], testEnv(dir, undefined, { TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000000' }), dir.dir);
      expect(code).toBe(0);
      expect(stderr).toContain('warning: TWILIO_ACCOUNT_SID: still the example value from .env.example');
    });
  });

  describe('firewall', () => {
    const signaling = ['54.172.60.0/30', '54.244.51.0/30', '54.171.127.192/30', '35.156.191.128/30', '54.65.63.192/30', '54.169.127.128/30', '54.252.254.64/30', '177.71.206.192/30'];

    it('prints nftables rules for every region by default: SIP 5060 UDP/TCP, TLS 5061, media from 168.86.128.0/18', async () => {
      const { code, stdout } = await cli(['firewall'], {}, dir.dir);
      expect(code).toBe(0);
      expect(stdout.startsWith('#!/usr/sbin/nft -f\n')).toBe(true);
      for (const cidr of signaling) expect(stdout).toContain(cidr);
      expect(stdout).toContain('udp dport 5060 accept');
      expect(stdout).toContain('tcp dport { 5060, 5061 } accept');
      expect(stdout).toContain('define twilio_siprec_media = { 168.86.128.0/18 }');
      expect(stdout).toContain('udp sport 10000-60000 accept');
    });

    it('prints iptables rules, one per region and protocol, plus media', async () => {
      const { code, stdout } = await cli(['firewall', '--format', 'iptables'], {}, dir.dir);
      expect(code).toBe(0);
      for (const cidr of signaling) {
        expect(stdout).toContain(`-s ${cidr} -p udp --dport 5060 `);
        expect(stdout).toContain(`-s ${cidr} -p tcp -m multiport --dports 5060,5061 `);
      }
      expect(stdout).toContain('-s 168.86.128.0/18 -p udp --sport 10000:60000 ');
    });

    it('prints JSON that parses, narrowed to the given edges', async () => {
      const { code, stdout } = await cli(['firewall', '--format', 'json', '--edge', 'dublin', '--edge', 'us1'], {}, dir.dir);
      expect(code).toBe(0);
      const body = JSON.parse(stdout);
      expect(body.edges.map((e: { name: string }) => e.name)).toEqual(['ashburn', 'dublin']);
      expect(body.signaling.regions.map((r: { cidr: string }) => r.cidr)).toEqual(['54.172.60.0/30', '54.171.127.192/30']);
      expect(body.media).toEqual({ cidr: '168.86.128.0/18', protocol: 'udp', sourcePorts: { from: 10000, to: 60000 } });
    });

    it('keeps other regions out when --edge narrows nftables output', async () => {
      const { stdout } = await cli(['firewall', '--edge', 'frankfurt'], {}, dir.dir);
      expect(stdout).toContain('35.156.191.128/30');
      for (const cidr of signaling.filter((c) => c !== '35.156.191.128/30')) expect(stdout).not.toContain(cidr);
    });

    it('refuses an unknown edge with exit 2 and the list of edges', async () => {
      const { code, stdout, stderr } = await cli(['firewall', '--edge', 'atlantis'], {}, dir.dir);
      expect(code).toBe(2);
      expect(stderr).toContain('unknown edge "atlantis"; known: ashburn (us1), umatilla (us2), dublin (ie1)');
      expect(stdout).toBe('');
    });
  });

  describe('twiml', () => {
    it.each([['5550001111'], ['15550001111'], ['555-000-1111'], ['+1 555 000 1111']])(
      'refuses --to %s, which Twilio never sends and no route could match, with exit 2',
      async (to) => {
        const { code, stdout, stderr } = await cli(['twiml', '--to', to], testEnv(dir), dir.dir);
        expect(code).toBe(2);
        expect(stdout).toBe('');
        expect(stderr).toContain(
          `siprec-control twiml: --to must be the called number as Twilio sends it: E.164 (+15550001111), a sip: URI or a client: identity; "${to}" could only ever match the default route\n`,
        );
        expect(stderr).toContain('Usage: siprec-control twiml');
      },
    );

    it('refuses an E.164 --to that cannot exist, with exit 2', async () => {
      const { code, stderr } = await cli(['twiml', '--to', '+1555'], testEnv(dir), dir.dir);
      expect(code).toBe(2);
      expect(stderr).toContain('siprec-control twiml: --to +1555 is not a possible phone number: too short for country code +1\n');
    });

    it.each([['sip:alice@pbx.example.com'], ['client:alice'], ['+15559998888']])('accepts --to %s and answers the default route', async (to) => {
      const { code, stdout, stderr } = await cli(['twiml', '--to', to], testEnv(dir), dir.dir);
      expect(code).toBe(0);
      expect(parseXml(stdout).name).toBe('Response');
      expect(stderr).toMatch(/^route: routes\[1\] \(the default route\)/);
    });
  });

  describe('serve, with a bad routes file', () => {
    it('exits 1 before listening, naming the JSON path of a "__proto__" parameter and of a non-string value', async () => {
      const text = JSON.stringify({ routes: [{ siprec: [{ connectorName: 'C', parameters: { X: 'y', N: null } }], then: { enqueue: 'q' } }] }).replace('"X":"y"', '"__proto__":"y"');
      const { code, stdout, stderr } = await cli(['serve'], testEnv(dir, text), dir.dir);
      expect(code).toBe(1);
      expect(stdout).not.toContain('listening');
      const file = dir.file('routes.json');
      expect(stderr).toContain(`  - ${file}.routes[0].siprec[0].parameters.__proto__: "__proto__" cannot be a key: JavaScript drops it without a word; rename it\n`);
      expect(stderr).toContain(`  - ${file}.routes[0].siprec[0].parameters.N: a parameter value must be a string\n`);
    });
  });

  describe('twiml, against the running server', () => {
    let server: ServerProcess;
    let env: Record<string, string>;
    beforeEach(async () => {
      env = testEnv(dir);
      server = await startServerProcess(env);
    });
    afterEach(async () => {
      server.child.kill('SIGTERM');
      await server.exited;
    });

    it.each([
      ['a number with its own route', '+15550001111'],
      ['any other number (the default route)', '+15559998888'],
    ])('prints exactly what POST /twilio/voice answers for %s', async (_what, to) => {
      const form = buildVoiceForm({ CallSid: newCallSid(), To: to, From: '+14155550100' });
      const res = await fetch(`${server.url}/twilio/voice`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sign(`${env.PUBLIC_BASE_URL}/twilio/voice`, form) },
        body: new URLSearchParams(form),
      });
      expect(res.status).toBe(200);
      const answered = await res.text();
      const { code, stdout, stderr } = await cli(['twiml', '--to', to, '--from', form.From!, '--call-sid', form.CallSid!], env, dir.dir);
      expect(code).toBe(0);
      expect(stdout).toBe(answered);
      expect(parseXml(stdout).name).toBe('Response');
      expect(stderr).toMatch(/^route: routes\[\d\] /);
    });
  });
});
