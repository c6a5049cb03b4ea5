-- Times are integer milliseconds since the Unix epoch (UTC); the API renders them as ISO 8601.

CREATE TABLE calls (
  call_sid     TEXT PRIMARY KEY,
  account_sid  TEXT NOT NULL,
  from_number  TEXT,
  to_number    TEXT,
  direction    TEXT,
  created_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX calls_created_at ON calls (created_at);

CREATE TABLE siprec_sessions (
  id                 INTEGER PRIMARY KEY,
  call_sid           TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
  name               TEXT NOT NULL,
  siprec_sid         TEXT,
  connector_name     TEXT,
  track              TEXT,
  parameters         TEXT,            -- JSON array of { name, value } as sent to Twilio
  state              TEXT NOT NULL CHECK (state IN ('requested', 'active', 'failed', 'stopped')),
  requested_at       INTEGER,
  started_at         INTEGER,
  stopped_at         INTEGER,
  stop_requested_at  INTEGER,
  error_code         TEXT,
  error_message      TEXT,
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  UNIQUE (call_sid, name)
) STRICT;

CREATE UNIQUE INDEX siprec_sessions_siprec_sid ON siprec_sessions (siprec_sid) WHERE siprec_sid IS NOT NULL;
-- Keyset pagination, newest first, with and without each filter.
CREATE INDEX siprec_sessions_created ON siprec_sessions (created_at, id);
CREATE INDEX siprec_sessions_state_created ON siprec_sessions (state, created_at, id);
CREATE INDEX siprec_sessions_connector_created ON siprec_sessions (connector_name, created_at, id);

CREATE TABLE siprec_events (
  id              INTEGER PRIMARY KEY,
  session_id      INTEGER NOT NULL REFERENCES siprec_sessions (id) ON DELETE CASCADE,
  siprec_sid      TEXT NOT NULL,
  event           TEXT NOT NULL,
  timestamp_raw   TEXT NOT NULL,      -- Twilio's Timestamp exactly as sent
  occurred_at     INTEGER,            -- Timestamp parsed, when it parses
  received_at     INTEGER NOT NULL,
  error_code      TEXT,
  error_message   TEXT,
  payload         TEXT NOT NULL,      -- every parameter Twilio sent, as JSON
  -- A Twilio retry repeats all three; it is acknowledged and stored once.
  UNIQUE (siprec_sid, event, timestamp_raw)
) STRICT;

CREATE INDEX siprec_events_session ON siprec_events (session_id, id);
CREATE INDEX siprec_events_received ON siprec_events (received_at);
CREATE INDEX siprec_events_event_received ON siprec_events (event, received_at);
