-- One row that /readyz rewrites through a real commit: taking a lock alone succeeds on a full disk
-- or read-only files, where every real write fails.
CREATE TABLE readiness (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at  INTEGER NOT NULL
) STRICT;
