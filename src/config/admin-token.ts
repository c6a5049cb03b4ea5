/**
 * How much a guesser must try, at most, to find the admin token. A string of n characters drawn
 * from k different ones can hold at most n × log2(k) bits, whatever the generator: 24 copies of one
 * character hold 0. This ceiling refuses only tokens that are certainly weak, and never a random
 * one: `openssl rand -hex 12` (24 characters, the shortest allowed) shows 12.6 different characters
 * on average, 88 bits here, and falls under 64 (6 different or fewer) less than once in a million. A threshold of 96 bits, the
 * hex token's real entropy, would refuse nearly every such token, since the ceiling undercounts
 * short random strings.
 */
export const MIN_ADMIN_TOKEN_BITS = 64;

export function entropyCeilingBits(token: string): number {
  const chars = [...token];
  const distinct = new Set(chars).size;
  return distinct < 2 ? 0 : chars.length * Math.log2(distinct);
}

/** The problem with a token of allowed length, or undefined; never quotes the token. */
export function weakTokenProblem(token: string): string | undefined {
  const bits = entropyCeilingBits(token);
  if (bits >= MIN_ADMIN_TOKEN_BITS) return undefined;
  return `has too little entropy: at most ${Math.floor(bits)} bits (length × log2 of the number of different characters; ${MIN_ADMIN_TOKEN_BITS} needed); generate one with openssl rand -hex 24`;
}
