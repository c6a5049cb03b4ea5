import Database from 'better-sqlite3';
import { createGroupCommit } from '../../src/store/sqlite/group-commit';
import { tempDir, type TempDir } from '../helpers/env';

describe('createGroupCommit', () => {
  let dir: TempDir;
  let db: Database.Database;
  beforeEach(() => {
    dir = tempDir();
    db = new Database(dir.file('g.sqlite'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
  });
  afterEach(() => {
    db.close();
    dir.remove();
  });

  const insert = (x: number) => db.transaction(() => db.prepare('INSERT INTO t (x) VALUES (?)').run(x).changes);
  const count = () => (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;

  it('commits writes of one event-loop turn together and resolves each after the commit', async () => {
    const g = createGroupCommit(db);
    const inTxn: boolean[] = [];
    const results = await Promise.all(
      [1, 2, 3].map((x) =>
        g.run(() => {
          inTxn.push(db.inTransaction);
          return insert(x)();
        }),
      ),
    );
    expect(results).toEqual([1, 1, 1]);
    expect(inTxn).toEqual([true, true, true]);
    expect(count()).toBe(3);
    expect(db.inTransaction).toBe(false);
  });

  it('fails only the write that throws; the others in its batch commit', async () => {
    const g = createGroupCommit(db);
    const outcomes = await Promise.allSettled([g.run(insert(1)), g.run(insert(1)), g.run(insert(2))]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason.message).toMatch(/UNIQUE constraint failed/);
    expect(db.prepare('SELECT x FROM t ORDER BY x').all()).toEqual([{ x: 1 }, { x: 2 }]);
  });

  it('rejects every write of a batch whose commit cannot happen, and stores none of them', async () => {
    const g = createGroupCommit(db);
    db.pragma('query_only = ON');
    const outcomes = await Promise.allSettled([g.run(insert(1)), g.run(insert(2))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    db.pragma('query_only = OFF');
    expect(count()).toBe(0);
  });

  it('splits a burst larger than maxBatch over several commits, in order', async () => {
    const g = createGroupCommit(db, { maxBatch: 4 });
    const seen: number[] = [];
    await Promise.all(Array.from({ length: 10 }, (_, i) => g.run(() => (seen.push(i), insert(i + 1)()))));
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(count()).toBe(10);
    expect(g.pending).toBe(0);
  });
});
