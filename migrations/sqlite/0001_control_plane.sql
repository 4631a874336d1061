-- The control plane on SQLite: the tables of DuckDB's migrations 0001 to
-- 0015 (migrations/duckdb/, where each table's purpose is told), in one
-- first migration.
--
-- Types: STRICT tables, so a value of the wrong type is an error, not a
-- silent conversion. Timestamps are TEXT of one fixed width in UTC,
-- `2026-12-07 06:31:00.123456+00`, so that text order is time order (the
-- defaults write milliseconds padded to that width); dates are TEXT
-- `YYYY-MM-DD`; booleans are INTEGER 0 or 1. An INTEGER PRIMARY KEY is the
-- row id and numbers new rows itself.

CREATE TABLE keystore (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kdf_m_kib INTEGER NOT NULL,
    kdf_t INTEGER NOT NULL,
    kdf_p INTEGER NOT NULL,
    salt BLOB NOT NULL,
    check_nonce BLOB NOT NULL,
    check_tag BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;

CREATE TABLE wrapped_keys (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;

CREATE TABLE source_clients (
    client_id TEXT PRIMARY KEY,
    facility TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    revoked_at TEXT
) STRICT;

CREATE TABLE releases (
    release_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tier TEXT NOT NULL CHECK (tier IN ('anonymized', 'pseudonymized')),
    policy_sha256 TEXT NOT NULL,
    policy TEXT NOT NULL,
    file TEXT NOT NULL,
    built_by TEXT NOT NULL,
    built_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    persons INTEGER NOT NULL,
    manifest TEXT NOT NULL
) STRICT;

CREATE TABLE release_members (
    release_id INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    PRIMARY KEY (release_id, person_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE opt_outs (
    person_key INTEGER PRIMARY KEY,
    opted_out_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;

CREATE TABLE release_escrow (
    release_id INTEGER PRIMARY KEY,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL
) STRICT;

CREATE TABLE reidentifications (
    id INTEGER PRIMARY KEY,
    release_id INTEGER NOT NULL,
    pseudonym TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    approved_by TEXT,
    approved_at TEXT
) STRICT;

-- Append-only; AUTOINCREMENT so that an id is never used twice.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    certified INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;

CREATE TABLE account_organizations (
    account TEXT PRIMARY KEY,
    organization_id INTEGER NOT NULL
) STRICT;

CREATE TABLE applications (
    id INTEGER PRIMARY KEY,
    applicant TEXT NOT NULL,
    organization_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    purpose TEXT NOT NULL,
    lay_summary TEXT NOT NULL,
    tier TEXT NOT NULL CHECK (tier IN ('anonymized', 'pseudonymized')),
    starts TEXT NOT NULL,
    ends TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    round INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    submitted_at TEXT
) STRICT;

CREATE TABLE application_members (
    application_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    PRIMARY KEY (application_id, account)
) STRICT;

CREATE TABLE application_items (
    application_id INTEGER NOT NULL,
    release TEXT NOT NULL,
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL,
    PRIMARY KEY (application_id, release, table_name, column_name)
) STRICT;

CREATE TABLE reviews (
    application_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject', 'changes')),
    comment TEXT NOT NULL,
    reviewed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    PRIMARY KEY (application_id, round, reviewer)
) STRICT;

CREATE TABLE grants (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL UNIQUE,
    rule_set TEXT NOT NULL,
    row_level INTEGER NOT NULL,
    dp_rho REAL NOT NULL,
    expires_on TEXT NOT NULL,
    granted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    revoked_at TEXT,
    revoked_by TEXT
) STRICT;

CREATE TABLE grant_items (
    grant_id INTEGER NOT NULL,
    release TEXT NOT NULL,
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL,
    PRIMARY KEY (grant_id, release, table_name, column_name)
) STRICT;

CREATE TABLE api_tokens (
    token_id TEXT PRIMARY KEY,
    secret_sha256 BLOB NOT NULL,
    account TEXT NOT NULL,
    grant_id INTEGER NOT NULL,
    expires_on TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    revoked_at TEXT
) STRICT;

CREATE TABLE airlock (
    id INTEGER PRIMARY KEY,
    grant_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    sql TEXT NOT NULL,
    result TEXT NOT NULL,
    findings TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('held', 'released', 'rejected')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    decided_at TEXT
) STRICT;

CREATE TABLE airlock_reviews (
    airlock_id INTEGER NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('release', 'reject')),
    comment TEXT NOT NULL,
    reviewed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    PRIMARY KEY (airlock_id, reviewer)
) STRICT;

CREATE TABLE dp_ledger (
    grant_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    rho REAL NOT NULL CHECK (rho > 0),
    spec TEXT NOT NULL,
    spent_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;
CREATE INDEX dp_ledger_grant ON dp_ledger (grant_id);

CREATE TABLE row_level_disclosures (
    grant_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    release TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    disclosed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    idx INTEGER
) STRICT;
CREATE INDEX row_level_disclosures_pseudonym ON row_level_disclosures (release, pseudonym);

CREATE TABLE log_leaves (
    idx INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL UNIQUE
) STRICT;

CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE log_checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    verifier TEXT NOT NULL,
    issued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;

CREATE TABLE log_scopes (
    idx INTEGER NOT NULL,
    release_id INTEGER NOT NULL,
    PRIMARY KEY (idx, release_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE log_persons (
    idx INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    PRIMARY KEY (idx, person_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE person_salts (
    person_key INTEGER PRIMARY KEY,
    salt BLOB NOT NULL
) STRICT;

CREATE TABLE release_bitmaps (
    release_id INTEGER PRIMARY KEY,
    members BLOB NOT NULL
) STRICT;

CREATE TABLE enrolment_codes (
    code_sha256 TEXT PRIMARY KEY,
    claim BLOB NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE enrolment_uses (
    code_sha256 TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    used_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;

CREATE TABLE citizens (
    account TEXT NOT NULL,
    person_key INTEGER NOT NULL,
    enrolled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    PRIMARY KEY (account, person_key)
) STRICT;

CREATE TABLE opt_out_withdrawals (
    person_key INTEGER NOT NULL,
    withdrawn_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;

CREATE TABLE release_disclosure_tags (
    release_id INTEGER NOT NULL,
    tag BLOB NOT NULL,
    person_key INTEGER NOT NULL,
    PRIMARY KEY (release_id, tag)
) STRICT, WITHOUT ROWID;

CREATE TABLE released_numbers (
    id INTEGER PRIMARY KEY,
    grant_id INTEGER NOT NULL,
    release TEXT NOT NULL,
    family TEXT NOT NULL,
    persons INTEGER NOT NULL CHECK (persons >= 0),
    definition BLOB NOT NULL,
    members BLOB NOT NULL,
    label TEXT NOT NULL,
    sql TEXT NOT NULL,
    airlock_id INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;
CREATE INDEX released_numbers_family ON released_numbers (grant_id, release, family, persons);

CREATE TABLE revocation_requests (
    grant_id INTEGER NOT NULL,
    reviewer TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now')),
    PRIMARY KEY (grant_id, reviewer)
) STRICT;

CREATE TABLE disabled_accounts (
    account TEXT PRIMARY KEY,
    disabled_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    disabled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;
