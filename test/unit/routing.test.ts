import fc from 'fast-check';
import { PLACEHOLDERS, pickRoute, planSiprec, quotesTheCall, renderTemplate, unknownPlaceholders, type Route } from '../../src/domain/routing';

const target = (name: string) => ({ connectorName: name, name, track: 'inbound_track' as const, statusCallbackMethod: 'POST' as const, parameters: {} });
const routes: Route[] = [
  { to: ['+1555000001', '+1555000002'], siprec: [target('a')], then: { enqueue: 'a' } },
  { to: ['+1555000002', '+1555000003'], siprec: [target('b')], then: { enqueue: 'b' } },
  { siprec: [target('default')], then: { enqueue: 'default' } },
];

describe('pickRoute', () => {
  it.each([
    ['+1555000001', 'a'],
    ['+1555000002', 'a'],
    ['+1555000003', 'b'],
    ['+1555000009', 'default'],
    [undefined, 'default'],
  ])('routes %s to %s', (to, expected) => {
    expect(pickRoute(routes, to).siprec[0]!.name).toBe(expected);
  });
});

describe('renderTemplate', () => {
  it('fills known placeholders, leaves text and repeats intact', () => {
    expect(renderTemplate('{From}->{To} {From}', { From: '+1', To: '+2' })).toBe('+1->+2 +1');
  });
  it('fills a missing field with the empty string', () => {
    expect(renderTemplate('[{CallerName}]', {})).toBe('[]');
  });
  it('does not re-expand placeholders inside filled values', () => {
    expect(renderTemplate('{CallerName}', { CallerName: '{From}', From: 'x' })).toBe('{From}');
  });
});

describe('unknownPlaceholders', () => {
  it('lists only unknown names', () => {
    expect(unknownPlaceholders('{From} {Frm} {} {To}')).toEqual(['Frm', '']);
  });
});

describe('planSiprec', () => {
  it('cuts a rendered value so name plus value stay under 500 characters', () => {
    const route: Route = { siprec: [{ ...target('x'), parameters: { Name: '{CallerName}' } }], then: { enqueue: 'q' } };
    const [plan] = planSiprec(route, { CallerName: 'y'.repeat(1000) });
    expect(plan!.parameters[0]!.value).toHaveLength(499 - 'Name'.length);
  });
});

describe('quotesTheCall', () => {
  const withParameters = (...parameters: Array<Record<string, string>>): Route => ({
    siprec: parameters.map((p, i) => ({ ...target(`t${i}`), parameters: p })),
    then: { enqueue: 'q' },
  });
  it.each<[Array<Record<string, string>>, boolean]>([
    [[{}], false],
    [[{ Team: 'sales', Note: 'a {literal} brace' }], false],
    [[{ Team: 'sales' }, { Caller: '{From}' }], true],
    [[{ Who: 'call {CallSid} for {To}' }], true],
  ])('%j → %s', (parameters, expected) => {
    expect(quotesTheCall(withParameters(...parameters))).toBe(expected);
  });
});

describe('a route that does not quote the call', () => {
  // What the voice route relies on to build that route's TwiML once, at start-up.
  it('plans the same for every call as for no call at all', () => {
    const route = { siprec: [{ ...target('a'), parameters: { Team: 'sales', Note: 'a {literal} brace', Long: 'x'.repeat(600) } }], then: { enqueue: 'q' } } as Route;
    expect(quotesTheCall(route)).toBe(false);
    const call = fc.record(Object.fromEntries(PLACEHOLDERS.map((p) => [p, fc.string()])), { requiredKeys: [] });
    fc.assert(fc.property(call, (c) => expect(planSiprec(route, c)).toEqual(planSiprec(route, {}))));
  });
});
