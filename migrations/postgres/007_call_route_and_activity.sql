-- As migrations/sqlite/007: the call's route, and its last activity (the newest write that touched
-- the call, its sessions or events), which retention counts from.
--
-- No triggers keep last_activity_at here: every ledger write that touches a call begins by upserting
-- the call's row (src/store/postgres/writes.ts), which both row-locks it (serialising the writes of
-- one call across instances) and sets last_activity_at, in one statement.

ALTER TABLE calls ADD COLUMN route_key text;
ALTER TABLE calls ADD COLUMN last_activity_at bigint;

UPDATE calls SET last_activity_at = greatest(
  created_at,
  (SELECT max(s.updated_at) FROM siprec_sessions s WHERE s.call_sid = calls.call_sid),
  (SELECT max(e.received_at) FROM siprec_events e JOIN siprec_sessions s ON s.id = e.session_id WHERE s.call_sid = calls.call_sid)
);

-- The purge walks calls by last activity, oldest first, keyset on (last_activity_at, call_sid).
CREATE INDEX calls_last_activity ON calls (last_activity_at, call_sid);
