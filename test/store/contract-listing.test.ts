import { InvalidCursorError, type SessionQuery } from '../../src/store/store';
import { describeEachBackend } from '../helpers/backends';
import { callback, iso, MINUTE, newCall, newSession, T0, useLedger } from '../helpers/store-contract';
import { newSiprecSid } from '../helpers/twilio-requests';

// listSessions: newest first (by when the session was first recorded, then the later recorded
// first), filters, totals, and keyset pages whose cursors are opaque strings.
describeEachBackend('store contract: listing sessions', (backend) => {
  const ledger = useLedger(backend);

  async function record(at: number, from: string | null, to: string | null, sessions: Array<[name: string, connector: string | null]>) {
    const call = newCall({ from, to, receivedAt: at });
    await ledger.store.recordRequested(call, sessions.map(([name, connectorName]) => newSession(name, { connectorName })));
    return call.callSid;
  }

  describe('with three calls of four sessions', () => {
    // A at T0 (two sessions), B a minute later, C two minutes later.
    let A: string;
    let B: string;
    let C: string;
    beforeEach(async () => {
      A = await record(T0, '+14155550100', '+15550001111', [['gridspace', 'Gridspace_1'], ['compliance', 'Compliance_SRS']]);
      B = await record(T0 + MINUTE, '+442071838750', '+15550002222', [['gx', 'GridspaceX1']]);
      C = await record(T0 + 2 * MINUTE, '+442071838750', '+15559990000', [['Gridspace_1', 'Gridspace_1']]);
    });
    const keys = async (q: Partial<SessionQuery>) =>
      (await ledger.store.listSessions({ limit: 50, ...q })).sessions.map((s) => `${s.callSid === A ? 'A' : s.callSid === B ? 'B' : s.callSid === C ? 'C' : '?'}/${s.name}`);

    it('lists newest first, each session with its call’s numbers, and no total unless asked', async () => {
      const page = await ledger.store.listSessions({ limit: 50 });
      expect(page.sessions.map((s) => `${s.callSid === A ? 'A' : s.callSid === B ? 'B' : 'C'}/${s.name}`)).toEqual(['C/Gridspace_1', 'B/gx', 'A/compliance', 'A/gridspace']);
      expect(page.nextCursor).toBeNull();
      expect(page).not.toHaveProperty('total');
      expect(page.sessions[1]).toEqual({
        callSid: B,
        name: 'gx',
        siprecSid: null,
        connectorName: 'GridspaceX1',
        track: 'both_tracks',
        state: 'requested',
        requestedAt: iso(T0 + MINUTE),
        startedAt: null,
        stoppedAt: null,
        stopRequestedAt: null,
        errorCode: null,
        errorMessage: null,
        from: '+442071838750',
        to: '+15550002222',
      });
    });

    it('filters by state, callSid and connectorName (exact), alone and together', async () => {
      await ledger.store.applyEvent(callback({ callSid: A, siprecName: 'compliance' }, { receivedAt: T0 + 3 * MINUTE }));
      expect(await keys({ state: 'active' })).toEqual(['A/compliance']);
      expect(await keys({ state: 'requested' })).toEqual(['C/Gridspace_1', 'B/gx', 'A/gridspace']);
      expect(await keys({ state: 'stopped' })).toEqual([]);
      expect(await keys({ callSid: A })).toEqual(['A/compliance', 'A/gridspace']);
      expect(await keys({ connectorName: 'Gridspace_1' })).toEqual(['C/Gridspace_1', 'A/gridspace']);
      expect(await keys({ connectorName: 'gridspace_1' })).toEqual([]);
      expect(await keys({ connectorName: 'Gridspace_1', state: 'requested', callSid: C })).toEqual(['C/Gridspace_1']);
    });

    it('matches a connector by prefix in any case, with _ and % taken literally', async () => {
      expect(await keys({ connectorPrefix: 'gRiD' })).toEqual(['C/Gridspace_1', 'B/gx', 'A/gridspace']);
      expect(await keys({ connectorPrefix: 'Gridspace_' })).toEqual(['C/Gridspace_1', 'A/gridspace']);
      expect(await keys({ connectorPrefix: 'GRIDSPACE_1' })).toEqual(['C/Gridspace_1', 'A/gridspace']);
      expect(await keys({ connectorPrefix: 'Grid%' })).toEqual([]);
      expect(await keys({ connectorPrefix: '_' })).toEqual([]);
      expect(await keys({ connectorPrefix: 'compliance_srs' })).toEqual(['A/compliance']);
    });

    it('finds a session by its SIPREC SID', async () => {
      const siprecSid = newSiprecSid();
      await ledger.store.applyEvent(callback({ callSid: B, siprecSid, siprecName: 'gx' }, { receivedAt: T0 + 3 * MINUTE }));
      expect(await keys({ siprecSid })).toEqual(['B/gx']);
      expect(await keys({ siprecSid: newSiprecSid() })).toEqual([]);
    });

    it('finds the sessions of calls from or to a number, as stored', async () => {
      expect(await keys({ phone: '+14155550100' })).toEqual(['A/compliance', 'A/gridspace']);
      expect(await keys({ phone: '+15550002222' })).toEqual(['B/gx']);
      expect(await keys({ phone: '+442071838750' })).toEqual(['C/Gridspace_1', 'B/gx']);
      expect(await keys({ phone: '+19999999999' })).toEqual([]);
    });

    it('takes a time range on when the session was first recorded: since inclusive, until exclusive', async () => {
      expect(await keys({ since: T0 + MINUTE })).toEqual(['C/Gridspace_1', 'B/gx']);
      expect(await keys({ until: T0 + MINUTE })).toEqual(['A/compliance', 'A/gridspace']);
      expect(await keys({ since: T0 + 1, until: T0 + 2 * MINUTE })).toEqual(['B/gx']);
      expect(await keys({ since: T0 + 2 * MINUTE + 1 })).toEqual([]);
    });

    it('counts every match across pages when asked, on every page', async () => {
      const first = await ledger.store.listSessions({ limit: 1, withTotal: true });
      expect([first.sessions.length, first.total]).toEqual([1, 4]);
      expect((await ledger.store.listSessions({ limit: 1, withTotal: true, cursor: first.nextCursor! })).total).toBe(4);
      expect((await ledger.store.listSessions({ limit: 1, withTotal: true, state: 'requested' })).total).toBe(4);
      const prefix = await ledger.store.listSessions({ limit: 1, withTotal: true, connectorPrefix: 'grid' });
      expect(prefix.total).toBe(3);
      expect((await ledger.store.listSessions({ limit: 1, withTotal: true, connectorPrefix: 'grid', cursor: prefix.nextCursor! })).total).toBe(3);
      expect((await ledger.store.listSessions({ limit: 5, withTotal: true, phone: '+15550002222' })).total).toBe(1);
      expect((await ledger.store.listSessions({ limit: 5, withTotal: true, state: 'failed' })).total).toBe(0);
      expect((await ledger.store.listSessions({ limit: 5, withTotal: true, since: T0 + MINUTE, until: T0 + 2 * MINUTE })).total).toBe(1);
    });
  });

  describe('paging', () => {
    /** 17 sessions over 8 calls, several calls recorded in the same millisecond; newest first. */
    async function seed(): Promise<string[]> {
      const shape: Array<[ms: number, sessions: number]> = [[0, 2], [0, 1], [1000, 3], [1000, 1], [1000, 2], [2000, 1], [2000, 4], [5000, 3]];
      const recorded: Array<{ key: string; at: number; order: number }> = [];
      for (const [ms, n] of shape) {
        const names = Array.from({ length: n }, (_, i) => `s${i}`);
        const callSid = await record(T0 + ms, null, null, names.map((name) => [name, connectorOf(name)]));
        for (const name of names) recorded.push({ key: `${callSid}/${name}`, at: ms, order: recorded.length });
      }
      return recorded.sort((a, b) => b.at - a.at || b.order - a.order).map((r) => r.key);
    }
    const connectorOf = (name: string) => (name === 's1' ? 'Odd' : 'Even');
    const keyOf = (s: { callSid: string; name: string }) => `${s.callSid}/${s.name}`;

    async function pageThrough(q: Partial<SessionQuery> & { limit: number }, stores = [ledger.store]) {
      const seen: string[] = [];
      let cursor = q.cursor;
      for (let n = 0; n < 100; n++) {
        const page = await stores[n % stores.length]!.listSessions({ ...q, cursor });
        expect(page.sessions.length).toBeLessThanOrEqual(q.limit);
        seen.push(...page.sessions.map(keyOf));
        if (page.nextCursor === null) return seen;
        expect(page.sessions).toHaveLength(q.limit);
        cursor = page.nextCursor;
      }
      throw new Error('more than 100 pages');
    }

    it('goes through every page of every size with no repeat and no gap, the last page saying there is no next', async () => {
      const newestFirst = await seed();
      expect((await ledger.store.listSessions({ limit: 100 })).sessions.map(keyOf)).toEqual(newestFirst);
      for (const limit of [1, 2, 3, 4, 5, 16, 17, 18]) {
        expect({ limit, seen: await pageThrough({ limit }) }).toEqual({ limit, seen: newestFirst });
      }
    });

    it('keeps its filters with a cursor', async () => {
      const newestFirst = await seed();
      const odd = (await ledger.store.listSessions({ limit: 100, connectorName: 'Odd' })).sessions.map(keyOf);
      expect(odd).toEqual(newestFirst.filter((k) => k.endsWith('/s1')));
      expect(await pageThrough({ limit: 2, connectorName: 'Odd' })).toEqual(odd);
      expect(await pageThrough({ limit: 3, connectorPrefix: 'ev', since: T0 + 1000 })).toEqual(
        (await ledger.store.listSessions({ limit: 100, connectorPrefix: 'EV', since: T0 + 1000 })).sessions.map(keyOf),
      );
    });

    it('neither repeats nor skips a session when newer ones are recorded between pages', async () => {
      const newestFirst = await seed();
      const first = await ledger.store.listSessions({ limit: 5 });
      await record(T0 + 9000, null, null, [['late', 'Even']]);
      await record(T0 + 1000, null, null, [['same-ms', 'Even']]);
      const rest = await pageThrough({ limit: 5, cursor: first.nextCursor! });
      const seen = [...first.sessions.map(keyOf), ...rest];
      expect(seen.filter((k) => newestFirst.includes(k))).toEqual(newestFirst);
      expect(seen.some((k) => k.endsWith('/late'))).toBe(false);
    });

    it('opens a cursor one instance issued on another sharing the database', async () => {
      const newestFirst = await seed();
      expect(await pageThrough({ limit: 4 }, [ledger.store, await ledger.openAnother()])).toEqual(newestFirst);
    });

    it.each([
      ['junk', 'not-a-cursor'],
      ['characters outside base64url', '!!!'],
      ['a position that is not numbers', Buffer.from('1.x').toString('base64url')],
      ['a position without its id', Buffer.from('1795683482994').toString('base64url')],
      ['a negative position', Buffer.from('-1.5').toString('base64url')],
      ['base64 with padding', `${Buffer.from('1.1').toString('base64')}=`],
    ])('refuses a cursor it could not have issued (%s) with InvalidCursorError', async (_what, cursor) => {
      await seed();
      await expect(ledger.store.listSessions({ limit: 2, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    });

    it('refuses a forged cursor with any filter, and still lists after it', async () => {
      await seed();
      await expect(ledger.store.listSessions({ limit: 2, state: 'requested', withTotal: true, cursor: 'forged' })).rejects.toBeInstanceOf(InvalidCursorError);
      expect((await ledger.store.listSessions({ limit: 2 })).sessions).toHaveLength(2);
    });
  });
});
