import { databaseHosts, redactDatabaseUrl } from '../../src/store/postgres/url';
import { scrubPassword } from '../../src/store/postgres/connection';

/** DATABASE_URL as logs and errors show it: hosts named, the password never. No database needed. */
describe('PostgreSQL URLs', () => {
  it.each([
    ['postgres://u:s3cret@db1:5432,db2:5432/siprec?target_session_attrs=read-write', 'postgres://u:***@db1:5432,db2:5432/siprec?target_session_attrs=read-write'],
    ['postgresql://u:p%40ss@db/siprec?sslmode=require', 'postgresql://u:***@db/siprec?sslmode=require'],
    // A password holding an unencoded @: the last @ ends the userinfo.
    ['postgres://u:a@b@db:6432/x', 'postgres://u:***@db:6432/x'],
    ['postgres://db/x?user=u&password=s3cret&sslmode=require', 'postgres://db/x?user=u&password=***&sslmode=require'],
    ['postgres://u@db/x', 'postgres://u@db/x'],
  ])('masks the password of %s', (url, shown) => {
    expect(redactDatabaseUrl(url)).toBe(shown);
  });

  it('names each host with its port, 5432 when none is given', () => {
    expect(databaseHosts('postgres://u:p@db1:5433,db2/siprec?target_session_attrs=read-write')).toEqual(['db1:5433', 'db2:5432']);
    expect(databaseHosts('postgres://u:p@[::1]:5444/x')).toEqual(['[::1]:5444']);
    expect(databaseHosts('postgres:///x')).toEqual(['localhost:5432']);
  });

  it('scrubs the password, encoded or not, from any message', () => {
    const url = 'postgres://u:p%40ss%21word@db/x';
    expect(scrubPassword('failed for p@ss!word and p%40ss%21word', url)).toBe('failed for *** and ***');
    expect(scrubPassword('nothing secret here', 'postgres://u@db/x')).toBe('nothing secret here');
  });
});
