/**
 * How much a guesser must try, at most, to find the admin token. A string of n characters drawn
 * from k different ones can hold at most n × log2(k) bits, whatever the generator: 24 copies of one
 * character hold 0. A string that says a shorter piece at least twice (`abab…`, `password` 3
 * times) is given by that piece alone, so n is the piece's length: otherwise `ab` 32 times reached
 * 64 bits and passed. Only whole repeats count: a random token whose end happens to echo its start
 * is not shortened (that echo would refuse about 3 in a million of the shortest hex tokens). This
 * ceiling refuses only tokens that are certainly weak, and never a random one: `openssl rand -hex
 * 12` (24 characters, the shortest allowed) shows 12.6 different characters on average, 88 bits
 * here, and falls under 64 (6 different or fewer) less than once in a million. A threshold of 96
 * bits, the hex token's real entropy, would refuse nearly every such token, since the ceiling
 * undercounts short random strings.
 */
export const MIN_ADMIN_TOKEN_BITS = 64;

/**
 * The length of the shortest piece that `chars` repeats at least twice in full (the last repeat may
 * be cut short), or the whole length when there is none: the length minus the longest border, from
 * the KMP prefix function. Linear, because the token can be as long as an .env line.
 */
function repeatedPieceLength(chars: string[]): number {
  const border = new Array<number>(chars.length).fill(0);
  for (let i = 1; i < chars.length; i++) {
    let k = border[i - 1]!;
    while (k > 0 && chars[i] !== chars[k]) k = border[k - 1]!;
    border[i] = chars[i] === chars[k] ? k + 1 : k;
  }
  const piece = chars.length - (border[chars.length - 1] ?? 0);
  return 2 * piece <= chars.length ? piece : chars.length;
}

export function entropyCeilingBits(token: string): number {
  const chars = [...token];
  const distinct = new Set(chars).size;
  return distinct < 2 ? 0 : repeatedPieceLength(chars) * Math.log2(distinct);
}

/** The problem with a token of allowed length, or undefined; never quotes the token. */
export function weakTokenProblem(token: string): string | undefined {
  const bits = entropyCeilingBits(token);
  if (bits >= MIN_ADMIN_TOKEN_BITS) return undefined;
  return `has too little entropy: at most ${Math.floor(bits)} bits (length, or that of the piece it repeats, × log2 of the number of different characters; ${MIN_ADMIN_TOKEN_BITS} needed); generate one with openssl rand -hex 24`;
}
