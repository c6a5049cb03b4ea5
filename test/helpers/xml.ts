import { DOMParser, type Element } from '@xmldom/xmldom';

export interface XmlNode {
  name: string;
  attributes: Record<string, string>;
  text: string;
  children: XmlNode[];
}

function toNode(el: Element): XmlNode {
  const attributes: Record<string, string> = {};
  for (let i = 0; i < el.attributes.length; i++) {
    const a = el.attributes.item(i)!;
    attributes[a.name] = a.value;
  }
  const children: XmlNode[] = [];
  let text = '';
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1) children.push(toNode(n as Element));
    else if (n.nodeType === 3) text += n.nodeValue ?? '';
  }
  return { name: el.tagName, attributes, text, children };
}

/** Parses TwiML strictly (a parse error fails the test) into a plain tree for element-by-element asserts. */
export function parseXml(xml: string): XmlNode {
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level, msg) => {
      if (level !== 'warning') errors.push(msg);
    },
  }).parseFromString(xml, 'text/xml');
  if (errors.length > 0) throw new Error(`invalid XML: ${errors.join('; ')}\n${xml}`);
  return toNode(doc.documentElement as unknown as Element);
}
