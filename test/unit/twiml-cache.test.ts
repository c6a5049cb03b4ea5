import type { PlannedSiprec } from '../../src/domain/routing';
import { buildStartTwiml, cachedStartTwiml } from '../../src/twilio/twiml';

const BASE = 'https://calls.example.com';
const plan = (team: string): PlannedSiprec[] => [
  { name: 'gridspace', connectorName: 'Gridspace_1', track: 'both_tracks', statusCallbackMethod: 'POST', parameters: [{ name: 'Team', value: team }] },
];

describe('cachedStartTwiml', () => {
  it('answers exactly what buildStartTwiml builds, for each distinct plan and continuation', () => {
    const cached = cachedStartTwiml(BASE);
    for (const [p, then] of [
      [plan('sales'), { redirect: 'https://ivr.example.com/a' }],
      [plan('support'), { redirect: 'https://ivr.example.com/a' }],
      [plan('sales'), { dial: '+15551230000' }],
      [plan('sales'), { redirect: 'https://ivr.example.com/a' }],
    ] as const) {
      expect(cached(p, then)).toBe(buildStartTwiml(p, then, BASE));
    }
  });

  it('keeps at most `size` plans, dropping the oldest', () => {
    const cached = cachedStartTwiml(BASE, 2);
    const then = { enqueue: 'q' };
    const first = cached(plan('a'), then);
    cached(plan('b'), then);
    cached(plan('c'), then);
    expect(cached(plan('a'), then)).toBe(first);
    expect(cached.size).toBe(2);
  });
});
