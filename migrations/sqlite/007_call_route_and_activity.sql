-- Two facts about a call that its first row did not keep.
--
-- route_key: the route the voice webhook chose (src/domain/routing.ts routeKey), so that a stop
-- without `To`, or with the numbers masked or not stored, continues on the call's own route.
--
-- last_activity_at: the newest write that touched the call (its row, a session, an event). Retention
-- counts from it, not from created_at: a call whose callbacks still arrive is not old.

ALTER TABLE calls ADD COLUMN route_key TEXT;
ALTER TABLE calls ADD COLUMN last_activity_at INTEGER;

UPDATE calls SET last_activity_at = max(
  created_at,
  coalesce((SELECT max(s.updated_at) FROM siprec_sessions s WHERE s.call_sid = calls.call_sid), 0),
  coalesce((SELECT max(e.received_at) FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id WHERE s.call_sid = calls.call_sid), 0)
);

-- The purge walks calls by last activity, oldest first, keyset on (last_activity_at, call_sid).
-- created_at's index served only the purge.
DROP INDEX calls_created_at;
CREATE INDEX calls_last_activity ON calls (last_activity_at, call_sid);

-- Kept by triggers, in the same transaction as the write they follow, whichever write path it is.
-- The ledger's own insert sets last_activity_at; this covers a row inserted without it.
CREATE TRIGGER call_activity_call_insert AFTER INSERT ON calls WHEN NEW.last_activity_at IS NULL BEGIN
  UPDATE calls SET last_activity_at = NEW.created_at WHERE call_sid = NEW.call_sid;
END;
CREATE TRIGGER call_activity_session_insert AFTER INSERT ON siprec_sessions BEGIN
  UPDATE calls SET last_activity_at = NEW.updated_at
  WHERE call_sid = NEW.call_sid AND (last_activity_at IS NULL OR last_activity_at < NEW.updated_at);
END;
CREATE TRIGGER call_activity_session_update AFTER UPDATE OF updated_at ON siprec_sessions BEGIN
  UPDATE calls SET last_activity_at = NEW.updated_at
  WHERE call_sid = NEW.call_sid AND (last_activity_at IS NULL OR last_activity_at < NEW.updated_at);
END;
CREATE TRIGGER call_activity_event_insert AFTER INSERT ON siprec_events BEGIN
  UPDATE calls SET last_activity_at = NEW.received_at
  WHERE call_sid = (SELECT call_sid FROM siprec_sessions WHERE id = NEW.session_id)
    AND (last_activity_at IS NULL OR last_activity_at < NEW.received_at);
END;
