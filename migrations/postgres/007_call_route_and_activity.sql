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

-- Not indexed, unlike SQLite's calls_last_activity: every callback moves last_activity_at, and with
-- the column in no index PostgreSQL rewrites the call's row in place (a HOT update) instead of adding
-- an entry to each of calls' indexes per callback. The purge walks calls by creation instead (a call
-- idle since a cutoff was created before it; src/store/postgres/purge.ts), on an index never updated.
CREATE INDEX calls_created ON calls (created_at, call_sid);
