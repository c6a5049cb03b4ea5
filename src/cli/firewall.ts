import { FIREWALL_FORMATS, planFirewall, renderFirewall, UnknownEdgeError, type FirewallFormat } from '../domain/firewall';
import { EDGES } from '../domain/twilio-ranges';
import { EXIT, parseCommand, usageError, type CliIo } from './args';

const spec = {
  name: 'firewall',
  usage: `Usage: siprec-control firewall [--format nftables|iptables|json] [--edge <name>]...

Prints the allow rules a self-hosted SIPREC recording server needs for Twilio: each region's
signaling gateways (SIP on UDP/TCP 5060, TLS 5061) and Twilio's media range (UDP from ports
10000-60000), from the figures on Twilio's <Siprec> page. Touches no firewall itself.

Options:
  --format <f>    nftables (default), iptables (a sh script) or json
  --edge <name>   only the signaling region of this edge; repeat (or separate with commas) for more.
                  Without --edge: every region, because Twilio may signal from any of them unless
                  the connector's Session Recording Server URI pins one (sip:srs@example.com;edge=dublin).
                  Edges (name or code): ${EDGES.slice(0, 4).map((e) => `${e.name} (${e.code})`).join(', ')},
                  ${EDGES.slice(4).map((e) => `${e.name} (${e.code})`).join(', ')}; roaming means every region.
  -h, --help      this text

Example:
  siprec-control firewall --format nftables --edge dublin > twilio-siprec.nft && nft -f twilio-siprec.nft`,
  options: {
    format: { type: 'string' },
    edge: { type: 'string', multiple: true },
  },
} as const;

export function run(argv: string[], io: CliIo): number {
  const values = parseCommand(spec, argv, io);
  if (typeof values === 'number') return values;
  const format = values.format ?? 'nftables';
  if (!(FIREWALL_FORMATS as readonly string[]).includes(format)) {
    return usageError(spec, io, `--format must be one of ${FIREWALL_FORMATS.join(', ')}`);
  }
  const edges = (values.edge ?? []).flatMap((e) => e.split(','));
  let plan;
  try {
    plan = planFirewall(edges);
  } catch (err) {
    if (err instanceof UnknownEdgeError) return usageError(spec, io, err.message);
    throw err;
  }
  io.out(renderFirewall(plan, format as FirewallFormat));
  return EXIT.ok;
}
