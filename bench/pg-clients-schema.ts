/**
 * The tables the client comparison writes to: SQLite's ledger (migrations/sqlite 001 and 007) in
 * PostgreSQL types, with the same keys, unique constraints and indexes, so that each statement does
 * the index work the real one does. It is a fixture for comparing two clients on one workload, not
 * the service's schema (migrations/postgres/ is): both clients run the same SQL on it, so what
 * differs between them is the client alone.
 */

export const CLIENTS_SCHEMA = `
CREATE TABLE calls (
  call_sid          text PRIMARY KEY,
  account_sid       text NOT NULL,
  from_number       text,
  to_number         text,
  direction         text,
  created_at        bigint NOT NULL,
  route_key         text,
  last_activity_at  bigint
);
CREATE INDEX calls_last_activity ON calls (last_activity_at, call_sid);

CREATE TABLE siprec_sessions (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  call_sid           text NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
  name               text NOT NULL,
  siprec_sid         text,
  connector_name     text,
  track              text,
  parameters         jsonb,
  state              text NOT NULL CHECK (state IN ('requested', 'active', 'failed', 'stopped')),
  requested_at       bigint,
  started_at         bigint,
  stopped_at         bigint,
  stop_requested_at  bigint,
  error_code         text,
  error_message      text,
  created_at         bigint NOT NULL,
  updated_at         bigint NOT NULL,
  UNIQUE (call_sid, name)
);
CREATE UNIQUE INDEX siprec_sessions_siprec_sid ON siprec_sessions (siprec_sid) WHERE siprec_sid IS NOT NULL;
CREATE INDEX siprec_sessions_created ON siprec_sessions (created_at, id);
CREATE INDEX siprec_sessions_state_created ON siprec_sessions (state, created_at, id);
CREATE INDEX siprec_sessions_connector_created ON siprec_sessions (connector_name, created_at, id);

CREATE TABLE siprec_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  session_id     bigint NOT NULL REFERENCES siprec_sessions (id) ON DELETE CASCADE,
  siprec_sid     text NOT NULL,
  event          text NOT NULL,
  timestamp_raw  text NOT NULL,
  occurred_at    bigint,
  received_at    bigint NOT NULL,
  error_code     text,
  error_message  text,
  payload        jsonb NOT NULL,
  UNIQUE (siprec_sid, event, timestamp_raw)
);
CREATE INDEX siprec_events_session ON siprec_events (session_id, id);
CREATE INDEX siprec_events_received ON siprec_events (received_at);
CREATE INDEX siprec_events_event_received ON siprec_events (event, received_at);
`;

/** The SIDs of the n-th pre-made call and session (what the voice webhook and a first callback wrote). */
export const clientsCallSid = (n: number) => `CA${n.toString(16).padStart(32, '0')}`;
export const clientsSiprecSid = (n: number) => `SR${n.toString(16).padStart(32, '0')}`;

/**
 * Calls 0..n-1, each with a session that was requested and then started (one siprec-started event),
 * as the voice webhook and the first status callback leave them: every measured transaction is then
 * the siprec-stopped callback of one of them. generate_series keeps the seeding to a few seconds.
 * Parameters only ($1 = n, $2 = the start time in ms); the SIDs are built the way clientsCallSid does.
 */
export const SEED_SESSIONS = [
  `INSERT INTO calls (call_sid, account_sid, from_number, to_number, direction, created_at, last_activity_at)
   SELECT 'CA' || lpad(to_hex(i), 32, '0'), 'AC0123456789abcdef0123456789abcdef', '+14155550100', '+15550001111', 'inbound', $2::bigint, $2::bigint
   FROM generate_series(0, $1::int - 1) i`,
  `INSERT INTO siprec_sessions (call_sid, name, siprec_sid, connector_name, track, parameters, state, requested_at, started_at, created_at, updated_at)
   SELECT 'CA' || lpad(to_hex(i), 32, '0'), 'gridspace', 'SR' || lpad(to_hex(i), 32, '0'), 'Gridspace_1', 'both_tracks',
     '[{"name":"Caller","value":"+14155550100"}]'::jsonb, 'active', $2::bigint, $2::bigint + 1000, $2::bigint, $2::bigint + 1000
   FROM generate_series(0, $1::int - 1) i`,
  `INSERT INTO siprec_events (session_id, siprec_sid, event, timestamp_raw, occurred_at, received_at, payload)
   SELECT s.id, s.siprec_sid, 'siprec-started', to_char(to_timestamp(($2::bigint + 1000) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
     $2::bigint + 1000, $2::bigint + 1150, jsonb_build_object('SiprecSid', s.siprec_sid, 'SiprecEvent', 'siprec-started')
   FROM siprec_sessions s WHERE s.id <= $1::bigint`,
];
