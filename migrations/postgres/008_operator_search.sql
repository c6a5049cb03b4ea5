-- Indexes for the status page's searches and overview (GET /api/sessions filters, GET /api/overview).

-- connectorPrefix is case-insensitive for ASCII letters only, as SQLite's LIKE: lower() would also
-- fold other letters (and by the database's locale). text_pattern_ops lets LIKE 'abc%' use the
-- index whatever the database's collation. INCLUDE (connector_name) lets the listing's total be an
-- index-only scan (PostgreSQL recomputes the expression from the column): counting the half of a
-- 250,000-session ledger that matches took 44 ms instead of 500 ms.
CREATE FUNCTION ascii_lower(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN translate(t, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
CREATE INDEX siprec_sessions_connector_lower ON siprec_sessions (ascii_lower(connector_name) text_pattern_ops, created_at, id)
  INCLUDE (connector_name);

-- phone: the calls from or to a number, as stored under STORE_CALLER_NUMBERS.
CREATE INDEX calls_from_number ON calls (from_number) WHERE from_number IS NOT NULL;
CREATE INDEX calls_to_number ON calls (to_number) WHERE to_number IS NOT NULL;

-- The "stuck in requested" tile: requested sessions older than a cutoff, oldest first.
CREATE INDEX siprec_sessions_state_requested ON siprec_sessions (state, requested_at);
