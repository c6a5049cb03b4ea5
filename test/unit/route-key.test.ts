import { routeByKey, routeKey, type Route } from '../../src/domain/routing';

const target = { connectorName: 'C', name: 'c', track: 'inbound_track', statusCallbackMethod: 'POST', parameters: {} } as const;
const sales: Route = { to: ['+15550001111', '+15550002222'], siprec: [target], then: { redirect: 'https://ivr.example.com/sales' } };
const support: Route = { to: ['+15550003333'], siprec: [target], then: { enqueue: 'support' } };
const fallback: Route = { siprec: [target], then: { dial: '+15551230000' } };

describe('routeKey and routeByKey', () => {
  const routes = [sales, support, fallback];

  it('finds each route by its own key', () => {
    for (const r of routes) expect(routeByKey(routes, routeKey(routes, r))).toBe(r);
  });

  it('keeps no number in the key', () => {
    expect(routes.map((r) => routeKey(routes, r)).join(' ')).not.toMatch(/555000/);
    expect(routeKey(routes, sales)).toMatch(/^0:[0-9a-f]{16}$/);
  });

  it('finds the route again after routes are reordered, or its numbers listed in another order, or its then edited', () => {
    const key = routeKey(routes, sales);
    const edited: Route = { ...sales, to: ['+15550002222', '+15550001111'], then: { redirect: 'https://ivr.example.com/v2' } };
    expect(routeByKey([support, edited, fallback], key)).toBe(edited);
    expect(routeByKey([support, sales, fallback], routeKey(routes, fallback))).toBe(fallback);
  });

  it('finds nothing once the route’s numbers change, or for no key or a key it did not make', () => {
    const changed: Route = { ...sales, to: ['+15550001111'] };
    expect(routeByKey([changed, support, fallback], routeKey(routes, sales))).toBeUndefined();
    expect(routeByKey(routes, null)).toBeUndefined();
    expect(routeByKey(routes, 'nonsense')).toBeUndefined();
    expect(routeByKey(routes, '0:')).toBeUndefined();
  });
});
