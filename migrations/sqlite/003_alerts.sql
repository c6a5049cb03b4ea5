-- The alert outbox: every alert is a row written in the same transaction as the fact that raised it
-- (for siprec-error, the error event), and a background dispatcher delivers it to ALERT_WEBHOOK_URL.
-- Times are integer milliseconds since the Unix epoch (UTC), as in 001.

CREATE TABLE alert_outbox (
  id               INTEGER PRIMARY KEY,
  kind             TEXT NOT NULL CHECK (kind IN ('siprec-error', 'start-timeout', 'ledger-write-failed', 'error-burst')),
  -- One alert per fact: (kind, session), (ledger-write-failed, 5-minute window), (error-burst, connector, window).
  dedupe_key       TEXT NOT NULL UNIQUE,
  severity         TEXT NOT NULL CHECK (severity IN ('critical', 'error', 'warning')),
  message          TEXT NOT NULL,
  call_sid         TEXT,
  session_name     TEXT,
  connector_name   TEXT,
  error_code       TEXT,
  error_message    TEXT,
  occurred_at      INTEGER NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'delivered', 'gave_up', 'not_configured')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  -- When the dispatcher may (re)try; also a lease: a claimed row is pushed forward so that a second
  -- process sharing the file during a rolling restart does not send it too.
  next_attempt_at  INTEGER NOT NULL,
  last_error       TEXT,
  delivered_at     INTEGER,
  updated_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX alert_outbox_recent ON alert_outbox (occurred_at, id);
-- error-burst asks "did this connector already alert within the window?"
CREATE INDEX alert_outbox_kind_connector ON alert_outbox (kind, connector_name, occurred_at);
