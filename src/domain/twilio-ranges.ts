/**
 * Where Twilio's SIPREC traffic comes from, as data: the only place these figures live.
 *
 * Source: Twilio's `<Siprec>` TwiML page (a copy is /work/shared/reference/twilio-siprec-twiml.txt),
 * sections "Regional Signaling IP Gateways" and "Global Media IP Gateways". test/unit/firewall.test.ts
 * checks every figure here against that text and every figure there against this file, so an edit
 * on either side that is not made on the other fails the build.
 */

export interface PortRange {
  from: number;
  to: number;
}

export interface SignalingRegion {
  /** Our key for the region; lowercase, stable (used in JSON output and nftables set comments). */
  id: string;
  /** The region as the reference page's heading names it ("North America Virginia Gateways"). */
  label: string;
  cidr: string;
  /** Set when the reference page lists the block without its own heading. */
  note?: string;
}

export interface Edge {
  /** The name the connector's `edge=` SIP URI parameter takes, e.g. `sip:srs@example.com;edge=dublin`. */
  name: string;
  code: string;
  /** Ids of the signaling regions SIPREC from this edge may come from. */
  regions: readonly string[];
}

/** SIP over UDP and TCP on 5060, SIP over TLS on 5061 ("Ports: 5060 (UDP/TCP), 5061 (TLS)"). */
export const SIGNALING_PORTS = { sip: 5060, sipTls: 5061 } as const;

export const SIGNALING_REGIONS: readonly SignalingRegion[] = [
  { id: 'us-virginia', label: 'North America Virginia', cidr: '54.172.60.0/30' },
  { id: 'us-oregon', label: 'North America Oregon', cidr: '54.244.51.0/30' },
  {
    id: 'eu-ireland',
    label: 'Europe Ireland',
    cidr: '54.171.127.192/30',
    // The page prints this block under no heading, between Oregon and Frankfurt. It is Twilio's
    // Dublin (ie1) gateway block, the one region of the list the page otherwise leaves out.
    note: 'unlabelled on the reference page; Europe, Ireland (Dublin edge)',
  },
  { id: 'eu-frankfurt', label: 'Europe Frankfurt', cidr: '35.156.191.128/30' },
  { id: 'ap-tokyo', label: 'Asia-Pacific Tokyo', cidr: '54.65.63.192/30' },
  { id: 'ap-singapore', label: 'Asia-Pacific Singapore', cidr: '54.169.127.128/30' },
  { id: 'ap-sydney', label: 'Asia-Pacific Sydney', cidr: '54.252.254.64/30' },
  { id: 'sa-sao-paulo', label: 'South America São Paulo', cidr: '177.71.206.192/30' },
];

/**
 * RTP/SRTP comes from Twilio's global media range, the same for every edge. Twilio sends from ports
 * in `ports`; the destination is whatever RTP port the recording server offers in its SDP, so rules
 * match Twilio's side and work whatever port range the recording server uses.
 */
export const MEDIA = { cidr: '168.86.128.0/18', protocol: 'udp', ports: { from: 10000, to: 60000 } } as const;

/**
 * Each edge signals from the gateways of the region it sits in (Twilio: `edge=umatilla` egresses from
 * Oregon, `edge=dublin` from Dublin). `roaming` (gll) is not a place: it may use any region.
 */
export const EDGES: readonly Edge[] = [
  { name: 'ashburn', code: 'us1', regions: ['us-virginia'] },
  { name: 'umatilla', code: 'us2', regions: ['us-oregon'] },
  { name: 'dublin', code: 'ie1', regions: ['eu-ireland'] },
  { name: 'frankfurt', code: 'de1', regions: ['eu-frankfurt'] },
  { name: 'tokyo', code: 'jp1', regions: ['ap-tokyo'] },
  { name: 'singapore', code: 'sg1', regions: ['ap-singapore'] },
  { name: 'sydney', code: 'au1', regions: ['ap-sydney'] },
  { name: 'sao-paulo', code: 'br1', regions: ['sa-sao-paulo'] },
  { name: 'roaming', code: 'gll', regions: SIGNALING_REGIONS.map((r) => r.id) },
];
