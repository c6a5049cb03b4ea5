-- One row that /readyz rewrites through a real commit: a connection that can read may still be
-- unable to commit (a read-only standby, a full disk, writes held by a lock).
CREATE TABLE readiness (
  id          integer PRIMARY KEY CHECK (id = 1),
  checked_at  bigint NOT NULL
);
