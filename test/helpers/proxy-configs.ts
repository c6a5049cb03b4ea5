/**
 * Readers for the deploy/ examples, for tests on a machine without nginx, Caddy or systemd's
 * runtime: nginx configuration and Caddyfiles as directive trees, systemd units as sections of keys.
 * And what each proxy passes upstream for a URL, by the rules their documentation gives.
 */

export interface Directive {
  name: string;
  args: string[];
  children: Directive[];
  line: number;
}

/** nginx: words end at ";" or open a block at "{"; "#" starts a comment; "…" and '…' quote. */
export function parseNginx(text: string): Directive[] {
  const tokens: Array<{ t: string; line: number; quoted: boolean }> = [];
  let line = 1;
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (/\s/.test(c)) i++;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if (c === '{' || c === '}' || c === ';') {
      tokens.push({ t: c, line, quoted: false });
      i++;
    } else if (c === '"' || c === "'") {
      const close = text.indexOf(c, i + 1);
      if (close < 0) throw new Error(`line ${line}: unterminated quote`);
      tokens.push({ t: text.slice(i + 1, close), line, quoted: true });
      i = close + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s{};#]/.test(text[j]!)) j++;
      tokens.push({ t: text.slice(i, j), line, quoted: false });
      i = j;
    }
  }
  let pos = 0;
  const block = (top: boolean): Directive[] => {
    const out: Directive[] = [];
    while (pos < tokens.length) {
      if (tokens[pos]!.t === '}' && !tokens[pos]!.quoted) {
        if (top) throw new Error(`line ${tokens[pos]!.line}: unexpected }`);
        pos++;
        return out;
      }
      const words: string[] = [];
      const at = tokens[pos]!.line;
      while (pos < tokens.length && !(['{', ';'].includes(tokens[pos]!.t) && !tokens[pos]!.quoted)) words.push(tokens[pos++]!.t);
      if (pos >= tokens.length) throw new Error(`line ${at}: "${words.join(' ')}" ends without ; or {`);
      const opens = tokens[pos++]!.t === '{';
      out.push({ name: words[0]!, args: words.slice(1), children: opens ? block(false) : [], line: at });
    }
    if (!top) throw new Error('a block is not closed');
    return out;
  };
  return block(true);
}

/** Caddyfile: one directive per line; a line ending in "{" opens a block, a line "}" closes it. */
export function parseCaddyfile(text: string): Directive[] {
  const root: Directive[] = [];
  const stack: Directive[][] = [root];
  text.split('\n').forEach((raw, i) => {
    const words = (raw.match(/"(?:[^"\\]|\\.)*"|`[^`]*`|[^\s"`]+/g) ?? []).map((w) => w.replace(/^["`]|["`]$/g, ''));
    const comment = words.findIndex((w) => w.startsWith('#'));
    if (comment >= 0) words.splice(comment);
    if (words.length === 0) return;
    if (words.length === 1 && words[0] === '}') {
      if (stack.length === 1) throw new Error(`line ${i + 1}: unexpected }`);
      stack.pop();
      return;
    }
    const opens = words.at(-1) === '{';
    if (opens) words.pop();
    const d: Directive = { name: words[0] ?? '', args: words.slice(1), children: [], line: i + 1 };
    stack.at(-1)!.push(d);
    if (opens) stack.push(d.children);
  });
  if (stack.length !== 1) throw new Error('a block is not closed');
  return root;
}

export function find(tree: Directive[], name: string): Directive[] {
  return tree.flatMap((d) => [...(d.name === name ? [d] : []), ...find(d.children, name)]);
}

export function one(tree: Directive[], name: string): Directive {
  const found = tree.filter((d) => d.name === name);
  if (found.length !== 1) throw new Error(`expected one ${name}, found ${found.length}`);
  return found[0]!;
}

/** nginx and Caddy durations ("10s", "2m", "60") in seconds. */
export function seconds(value: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 's']!;
}

/** nginx sizes (64k, 1m) and Caddy's (64KiB, 64KB, 1MB) in bytes. */
export function bytes(value: string): number {
  const m = /^(\d+)([kKmM]|KiB|MiB|KB|MB)?$/.exec(value);
  if (!m) throw new Error(`not a size: ${value}`);
  const unit = { k: 1024, K: 1024, m: 1024 ** 2, M: 1024 ** 2, KiB: 1024, MiB: 1024 ** 2, KB: 1000, MB: 1000 ** 2 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/**
 * The path and query an nginx server block passes upstream for `uri`, by nginx's rules: exact
 * `location =` first, else the longest prefix; `proxy_pass` without a URI passes the request URI
 * unchanged, with one it replaces the matched prefix; the query is passed as it came.
 */
export function nginxUpstream(server: Directive, uri: string): { location: Directive; upstream: string; uri: string } | { location: Directive; returns: string } {
  const locations = server.children.filter((d) => d.name === 'location');
  if (locations.some((l) => l.args[0] === '~' || l.args[0] === '~*' || l.args[0] === '^~')) throw new Error('regex locations are not modelled');
  const [pathPart, query] = [uri.split('?')[0]!, uri.includes('?') ? uri.slice(uri.indexOf('?')) : ''];
  const exact = locations.find((l) => l.args[0] === '=' && l.args[1] === pathPart);
  const prefix = locations
    .filter((l) => l.args.length === 1 && pathPart.startsWith(l.args[0]!))
    .sort((a, b) => b.args[0]!.length - a.args[0]!.length)[0];
  const location = exact ?? prefix;
  if (!location) throw new Error(`no location matches ${uri}`);
  const ret = location.children.find((d) => d.name === 'return');
  if (ret) return { location, returns: ret.args.join(' ') };
  const pass = one(location.children, 'proxy_pass').args[0]!;
  const m = /^http:\/\/([^/]+)(\/.*)?$/.exec(pass);
  if (!m) throw new Error(`proxy_pass ${pass} is not modelled`);
  const replaced = m[2] === undefined ? pathPart : m[2] + pathPart.slice(location.args.at(-1)!.length);
  return { location, upstream: m[1]!, uri: replaced + query };
}

/** systemd unit files: [Section] then Key=Value lines; a key may repeat. */
export function parseUnit(text: string): Record<string, Array<[string, string]>> {
  const sections: Record<string, Array<[string, string]>> = {};
  let current: Array<[string, string]> | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) return void (current = sections[section[1]!] ??= []);
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`line ${i + 1}: ${line}`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  });
  return sections;
}
