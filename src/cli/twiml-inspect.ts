import { DOMParser, type Element } from '@xmldom/xmldom';

export interface TwimlSiprec {
  name: string;
  connectorName: string;
  /** As written in the TwiML, fragment (connection overrides) included. */
  statusCallback: string | null;
  statusCallbackMethod: 'GET' | 'POST';
}

export type TwimlCheck =
  | { ok: true; siprecs: TwimlSiprec[]; verbs: string[] }
  | { ok: false; problem: string };

const children = (el: Element): Element[] => {
  const found: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) found.push(n as Element);
  return found;
};

/**
 * What Twilio would take from a voice answer: it must parse as XML, be a `<Response>`, and start at
 * least one `<Siprec>` inside `<Start>`. A parser, never string matching, so the check is Twilio's.
 */
export function inspectStartTwiml(xml: string): TwimlCheck {
  const errors: string[] = [];
  let root: Element | null;
  try {
    const doc = new DOMParser({
      onError: (level, msg) => {
        if (level !== 'warning') errors.push(msg);
      },
    }).parseFromString(xml, 'text/xml');
    root = doc.documentElement;
  } catch (err) {
    // xmldom throws on fatal errors (no root element, unclosed tags) after reporting some others.
    errors.unshift((err as Error).message);
    root = null;
  }
  if (errors.length > 0 || !root) return { ok: false, problem: `TwiML does not parse as XML (${errors[0] ?? 'empty document'})` };
  if (root.tagName !== 'Response') return { ok: false, problem: `TwiML root is <${root.tagName}>, not <Response>` };
  const verbs = children(root).map((c) => c.tagName);
  const siprecs = children(root)
    .filter((c) => c.tagName === 'Start')
    .flatMap(children)
    .filter((c) => c.tagName === 'Siprec')
    .map((s) => ({
      name: s.getAttribute('name') ?? '',
      connectorName: s.getAttribute('connectorName') ?? '',
      statusCallback: s.getAttribute('statusCallback'),
      statusCallbackMethod: (s.getAttribute('statusCallbackMethod') ?? 'POST').toUpperCase() === 'GET' ? ('GET' as const) : ('POST' as const),
    }));
  if (siprecs.length === 0) return { ok: false, problem: 'TwiML has no <Start><Siprec>' };
  const unnamed = siprecs.find((s) => !s.name);
  if (unnamed) return { ok: false, problem: `<Siprec connectorName="${unnamed.connectorName}"> has no name, so it cannot be stopped or tracked` };
  return { ok: true, siprecs, verbs };
}
