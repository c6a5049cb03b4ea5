-- Counters kept by triggers in the same transaction as the rows they count, so /api/stats and the
-- sessions gauge read a handful of rows instead of counting a million-event ledger per request.

CREATE TABLE session_state_counts (
  state  TEXT PRIMARY KEY,
  n      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO session_state_counts (state, n)
  SELECT s.state, (SELECT count(*) FROM siprec_sessions WHERE state = s.state)
  FROM (SELECT 'requested' AS state UNION ALL SELECT 'active' UNION ALL SELECT 'failed' UNION ALL SELECT 'stopped') s;

CREATE TRIGGER session_state_count_insert AFTER INSERT ON siprec_sessions BEGIN
  UPDATE session_state_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER session_state_count_update AFTER UPDATE OF state ON siprec_sessions WHEN OLD.state <> NEW.state BEGIN
  UPDATE session_state_counts SET n = n - 1 WHERE state = OLD.state;
  UPDATE session_state_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER session_state_count_delete AFTER DELETE ON siprec_sessions BEGIN
  UPDATE session_state_counts SET n = n - 1 WHERE state = OLD.state;
END;

-- Events received per minute and kind; only the last two days are kept (stats look back one day).
CREATE TABLE event_minute_counts (
  minute  INTEGER NOT NULL,   -- received_at / 60000
  event   TEXT NOT NULL,
  n       INTEGER NOT NULL,
  PRIMARY KEY (minute, event)
) STRICT, WITHOUT ROWID;

INSERT INTO event_minute_counts (minute, event, n)
  SELECT received_at / 60000, event, count(*) FROM siprec_events
  WHERE received_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 2 * 86400) * 1000
  GROUP BY 1, 2;

CREATE TRIGGER event_minute_count_insert AFTER INSERT ON siprec_events BEGIN
  INSERT INTO event_minute_counts (minute, event, n) VALUES (NEW.received_at / 60000, NEW.event, 1)
    ON CONFLICT (minute, event) DO UPDATE SET n = n + 1;
  DELETE FROM event_minute_counts WHERE minute < NEW.received_at / 60000 - 2880;
END;

-- A purge that reaches into the window (a short RETENTION_DAYS) must not leave counts behind.
CREATE TRIGGER event_minute_count_delete AFTER DELETE ON siprec_events BEGIN
  UPDATE event_minute_counts SET n = n - 1 WHERE minute = OLD.received_at / 60000 AND event = OLD.event;
END;
