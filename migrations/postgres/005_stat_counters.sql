-- Counters kept by triggers in the transaction of the rows they count, so that /api/stats and the
-- sessions gauge read a few rows instead of counting a million-event ledger.
--
-- Unlike SQLite's (one row per state, one per minute and event), each row here also carries the
-- backend pid of the connection that wrote it: one row per state updated by every session change
-- would be locked until commit by every writer in turn, serialising all ingest across instances.
-- With the pid in the key no two open transactions ever touch the same counter row. Readers sum
-- over pids; rows of pids that are gone are folded into pid 0 now and then (fold_stat_counters).

CREATE TABLE session_state_counts (
  state  text NOT NULL,
  pid    integer NOT NULL,
  n      bigint NOT NULL,
  PRIMARY KEY (state, pid)
);

INSERT INTO session_state_counts (state, pid, n)
  SELECT state, 0, count(*) FROM siprec_sessions GROUP BY state;

CREATE FUNCTION count_session_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO session_state_counts (state, pid, n) VALUES (OLD.state, pg_backend_pid(), -1)
      ON CONFLICT (state, pid) DO UPDATE SET n = session_state_counts.n - 1;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO session_state_counts (state, pid, n) VALUES (NEW.state, pg_backend_pid(), 1)
      ON CONFLICT (state, pid) DO UPDATE SET n = session_state_counts.n + 1;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER session_state_count_insert AFTER INSERT ON siprec_sessions
  FOR EACH ROW EXECUTE FUNCTION count_session_state();
CREATE TRIGGER session_state_count_update AFTER UPDATE OF state ON siprec_sessions
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION count_session_state();
CREATE TRIGGER session_state_count_delete AFTER DELETE ON siprec_sessions
  FOR EACH ROW EXECUTE FUNCTION count_session_state();

-- Events received per minute and kind; only the last two days are kept (stats look back one day).
CREATE TABLE event_minute_counts (
  minute  bigint NOT NULL,   -- received_at / 60000
  event   text NOT NULL,
  pid     integer NOT NULL,
  n       bigint NOT NULL,
  PRIMARY KEY (minute, event, pid)
);

INSERT INTO event_minute_counts (minute, event, pid, n)
  SELECT received_at / 60000, event, 0, count(*) FROM siprec_events
  WHERE received_at >= (extract(epoch FROM now())::bigint - 2 * 86400) * 1000
  GROUP BY 1, 2;

CREATE FUNCTION count_event_minute() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO event_minute_counts (minute, event, pid, n) VALUES (NEW.received_at / 60000, NEW.event, pg_backend_pid(), 1)
      ON CONFLICT (minute, event, pid) DO UPDATE SET n = event_minute_counts.n + 1;
  -- As SQLite's: a deleted event counts only while its minute is still kept.
  ELSIF EXISTS (SELECT 1 FROM event_minute_counts WHERE minute = OLD.received_at / 60000 AND event = OLD.event) THEN
    INSERT INTO event_minute_counts (minute, event, pid, n) VALUES (OLD.received_at / 60000, OLD.event, pg_backend_pid(), -1)
      ON CONFLICT (minute, event, pid) DO UPDATE SET n = event_minute_counts.n - 1;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER event_minute_count_insert AFTER INSERT ON siprec_events
  FOR EACH ROW EXECUTE FUNCTION count_event_minute();
CREATE TRIGGER event_minute_count_delete AFTER DELETE ON siprec_events
  FOR EACH ROW EXECUTE FUNCTION count_event_minute();

-- Folds the rows of pids no longer connected into pid 0, and drops minutes older than two days
-- before the newest. Never a live backend's rows: it may hold one and want another (a deadlock).
-- Run by one instance at a time (src/store/postgres/stats.ts).
CREATE FUNCTION fold_stat_counters() RETURNS void LANGUAGE sql AS $$
  WITH moved AS (
    DELETE FROM session_state_counts WHERE pid <> 0 AND pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL) RETURNING state, n
  )
  INSERT INTO session_state_counts (state, pid, n) SELECT state, 0, sum(n) FROM moved GROUP BY state
    ON CONFLICT (state, pid) DO UPDATE SET n = session_state_counts.n + excluded.n;
  DELETE FROM event_minute_counts WHERE minute < (SELECT max(minute) FROM event_minute_counts) - 2880;
  WITH moved AS (
    DELETE FROM event_minute_counts WHERE pid <> 0 AND pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL) RETURNING minute, event, n
  )
  INSERT INTO event_minute_counts (minute, event, pid, n) SELECT minute, event, 0, sum(n) FROM moved GROUP BY minute, event
    ON CONFLICT (minute, event, pid) DO UPDATE SET n = event_minute_counts.n + excluded.n;
$$;
