-- Indexes for the status page's searches and overview (GET /api/sessions filters, GET /api/overview).

-- connectorPrefix: a case-insensitive prefix (LIKE 'abc%'). SQLite's LIKE is case-insensitive for
-- ASCII and can walk an index only if the index compares the column in NOCASE.
CREATE INDEX siprec_sessions_connector_nocase ON siprec_sessions (connector_name COLLATE NOCASE, created_at, id);

-- phone: the calls from or to a number, as stored under STORE_CALLER_NUMBERS.
CREATE INDEX calls_from_number ON calls (from_number) WHERE from_number IS NOT NULL;
CREATE INDEX calls_to_number ON calls (to_number) WHERE to_number IS NOT NULL;

-- The "stuck in requested" tile: requested sessions older than a cutoff, oldest first.
CREATE INDEX siprec_sessions_state_requested ON siprec_sessions (state, requested_at);
