import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { planFirewall, renderFirewall, UnknownEdgeError } from '../../src/domain/firewall';
import { EDGES, MEDIA, SIGNALING_PORTS, SIGNALING_REGIONS } from '../../src/domain/twilio-ranges';

// The product's source page, kept in the repo so the test runs on any checkout; where the team's
// shared/ folder sits beside the checkout, the copy must still match it (see the last test).
const repoRoot = path.join(__dirname, '..', '..');
const REFERENCE = path.join(repoRoot, 'docs', 'reference', 'twilio-siprec-twiml.txt');
const SHARED_REFERENCE = path.join(repoRoot, '..', 'shared', 'reference', 'twilio-siprec-twiml.txt');
const reference = readFileSync(REFERENCE, 'utf8');

// No trailing \b: the scraped media table runs the CIDR into the port column ("…/1810,000 - 60,000").
const CIDR = /(\d{1,3}(?:\.\d{1,3}){3})\/(3[0-2]|[12]?\d)/g;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

const section = (from: string, to?: string) => {
  const start = reference.indexOf(from);
  expect(start).toBeGreaterThanOrEqual(0);
  const end = to ? reference.indexOf(to, start) : reference.length;
  return reference.slice(start, end < 0 ? reference.length : end);
};
const signalingText = section('Regional Signaling IP Gateways');
const mediaText = section('Global Media IP Gateways', 'Regional Signaling IP Gateways');
const num = (s: string) => Number(s.replace(/,/g, ''));

const toInt = (ip: string) => ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
const fromInt = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
function expand(cidr: string): string[] {
  const [ip, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return Array.from({ length: size }, (_, i) => fromInt(toInt(ip) + i));
}

describe('twilio-ranges, checked against the reference page', () => {
  const dataCidrs = [...SIGNALING_REGIONS.map((r) => r.cidr), MEDIA.cidr];

  it('holds exactly the CIDRs the page lists, no more and no fewer', () => {
    const pageCidrs = [...reference.matchAll(CIDR)].map((m) => m[0]);
    expect(new Set(pageCidrs)).toEqual(new Set(dataCidrs));
    expect(new Set(dataCidrs).size).toBe(dataCidrs.length);
  });

  it('names each signaling block as the heading above it on the page; only the documented block has none', () => {
    const matches = [...signalingText.matchAll(CIDR)];
    expect(matches.map((m) => m[0])).toEqual(SIGNALING_REGIONS.map((r) => r.cidr));
    matches.forEach((m, i) => {
      const before = signalingText.slice(i === 0 ? 0 : matches[i - 1]!.index, m.index);
      const heading = [...before.matchAll(/^(.+) Gateways$/gm)].at(-1)?.[1];
      const region = SIGNALING_REGIONS[i]!;
      if (region.note) expect(heading).toBeUndefined();
      else expect(heading).toBe(region.label);
    });
  });

  it('has the page\'s signaling ports for every block, and the page lists no other ports', () => {
    const portLines = [...signalingText.matchAll(/^Ports: .*$/gm)].map((m) => m[0]);
    expect(portLines).toHaveLength(SIGNALING_REGIONS.length);
    expect(new Set(portLines)).toEqual(new Set([`Ports: ${SIGNALING_PORTS.sip} (UDP/TCP), ${SIGNALING_PORTS.sipTls} (TLS)`]));
  });

  it('expands each /30 to exactly the addresses the page spells out, on a network boundary', () => {
    for (const region of SIGNALING_REGIONS) {
      const block = signalingText.slice(signalingText.indexOf(`${region.cidr} which translates to:`));
      const listed = block
        .slice(0, block.indexOf('Ports:'))
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => IPV4.test(l));
      expect(listed).toEqual(expand(region.cidr));
      expect(toInt(region.cidr.split('/')[0]!) % 4).toBe(0);
    }
  });

  it('has the media range with the page\'s protocol and port range', () => {
    const row = /(UDP|TCP)\s*ANY\s*ANY\s*(\d{1,3}(?:\.\d{1,3}){3}\/1?\d)\s*([\d,]+)\s*-\s*([\d,]+)/.exec(mediaText);
    expect(row).not.toBeNull();
    const [, protocol, cidr, from, to] = row!;
    expect({ protocol: protocol!.toLowerCase(), cidr, from: num(from!), to: num(to!) }).toEqual({
      protocol: MEDIA.protocol,
      cidr: MEDIA.cidr,
      from: MEDIA.ports.from,
      to: MEDIA.ports.to,
    });
  });

  it('leaves out only the page\'s SDK client port range (the dagger note), which is not SIPREC traffic', () => {
    // CIDRs out first: the table glues "/18" to "10,000", which would read as 810,000.
    const ranges = [...reference.replace(CIDR, ' ').matchAll(/(\d{1,3}(?:,\d{3})+)\s*(?:-|to)\s*(\d{1,3}(?:,\d{3})+)/g)].map((m) => `${num(m[1]!)}-${num(m[2]!)}`);
    expect(ranges.sort()).toEqual([`${MEDIA.ports.from}-${MEDIA.ports.to}`, '1024-65535'].sort());
    expect(reference).toMatch(/† The SDK will select any available port from the ephemeral range\. On most machines, this means the port range 1,024 to 65,535\./);
  });

  it('knows exactly the edges the page lists, by name and code', () => {
    const pageEdges = [...mediaText.matchAll(/^([a-z-]+) \((\w+) ?\)$/gm)].map((m) => `${m[1]} (${m[2]})`);
    expect(new Set(pageEdges)).toEqual(new Set(EDGES.map((e) => `${e.name} (${e.code})`)));
  });

  it('maps every edge to known regions, each region to one place edge, and roaming to all', () => {
    const ids = SIGNALING_REGIONS.map((r) => r.id);
    for (const edge of EDGES) for (const r of edge.regions) expect(ids).toContain(r);
    const places = EDGES.filter((e) => e.name !== 'roaming');
    expect(places.every((e) => e.regions.length === 1)).toBe(true);
    expect(places.map((e) => e.regions[0]).sort()).toEqual([...ids].sort());
    expect(EDGES.find((e) => e.name === 'roaming')!.regions).toEqual(ids);
  });
});

describe('planFirewall', () => {
  it('allows every region when no edge is named, since Twilio may signal from any', () => {
    const plan = planFirewall();
    expect(plan.allEdges).toBe(true);
    expect(plan.regions.map((r) => r.cidr)).toEqual(SIGNALING_REGIONS.map((r) => r.cidr));
  });

  it('narrows signaling to the named edges, by name or code in any case; media stays', () => {
    const plan = planFirewall(['dublin', 'US2']);
    expect(plan.allEdges).toBe(false);
    expect(plan.edges.map((e) => e.name)).toEqual(['umatilla', 'dublin']);
    expect(plan.regions.map((r) => r.cidr)).toEqual(['54.244.51.0/30', '54.171.127.192/30']);
    expect(plan.rules.filter((r) => r.purpose === 'media')).toEqual([
      expect.objectContaining({ source: MEDIA.cidr, protocol: 'udp', sourcePorts: { from: 10000, to: 60000 }, destinationPorts: null }),
    ]);
  });

  it('gives roaming every region', () => {
    expect(planFirewall(['roaming']).regions).toHaveLength(SIGNALING_REGIONS.length);
  });

  it.each([['nowhere'], ['dublin; rm -rf /'], ['']])('refuses the unknown edge %j, listing the known ones', (name) => {
    expect(() => planFirewall([name])).toThrow(UnknownEdgeError);
    expect(() => planFirewall([name])).toThrow(/known: ashburn \(us1\), .*roaming \(gll\)/);
  });
});

describe('renderFirewall', () => {
  const dublin = planFirewall(['dublin']);

  it('renders nftables with the chosen signaling block, both SIP ports, and the media source ports', () => {
    const text = renderFirewall(dublin, 'nftables');
    expect(text).toContain('54.171.127.192/30');
    expect(text).not.toContain('54.172.60.0/30');
    expect(text).toContain('udp dport 5060 accept');
    expect(text).toContain('tcp dport { 5060, 5061 } accept');
    expect(text).toContain('ip saddr $twilio_siprec_media udp sport 10000-60000 accept');
    expect(text).toContain('define twilio_siprec_media = { 168.86.128.0/18 }');
  });

  it('renders iptables as one ACCEPT per region and protocol plus the media rule, in a chain it can refill', () => {
    const lines = renderFirewall(planFirewall(), 'iptables').split('\n');
    const accepts = lines.filter((l) => l.startsWith('iptables -A TWILIO_SIPREC'));
    expect(accepts).toHaveLength(SIGNALING_REGIONS.length * 2 + 1);
    expect(lines).toContain('iptables -A TWILIO_SIPREC -s 54.171.127.192/30 -p tcp -m multiport --dports 5060,5061 -m comment --comment "Twilio SIPREC eu-ireland SIP over TCP and TLS" -j ACCEPT');
    expect(lines).toContain('iptables -A TWILIO_SIPREC -s 168.86.128.0/18 -p udp --sport 10000:60000 -m comment --comment "Twilio SIPREC media RTP/SRTP" -j ACCEPT');
    expect(lines).toContain('iptables -N TWILIO_SIPREC 2>/dev/null || iptables -F TWILIO_SIPREC');
  });

  it('renders JSON that parses and carries regions, ports and rules', () => {
    const body = JSON.parse(renderFirewall(dublin, 'json'));
    expect(body.edges).toEqual([{ name: 'dublin', code: 'ie1', regions: ['eu-ireland'] }]);
    expect(body.signaling.regions).toEqual([expect.objectContaining({ cidr: '54.171.127.192/30', label: 'Europe Ireland' })]);
    expect(body.signaling.ports).toEqual([
      { protocol: 'udp', port: 5060, transport: 'SIP over UDP' },
      { protocol: 'tcp', port: 5060, transport: 'SIP over TCP' },
      { protocol: 'tcp', port: 5061, transport: 'SIP over TLS' },
    ]);
    expect(body.media).toEqual({ cidr: '168.86.128.0/18', protocol: 'udp', sourcePorts: { from: 10000, to: 60000 } });
    expect(body.rules).toHaveLength(3);
  });
});

describe('the reference page kept in docs/reference', () => {
  it('is the team\'s shared copy, where that is present beside the checkout', () => {
    const shared = existsSync(SHARED_REFERENCE) ? readFileSync(SHARED_REFERENCE, 'utf8') : reference;
    expect(reference).toBe(shared);
  });
});
