-- The per-person side of the access log and the citizen portal.
--
-- Which log entries concern a person is answered from two kinds of link,
-- both written when the entry is appended (niji-audit's `index`):
-- `log_scopes` ties an entry to the releases it used (a release's build;
-- every event of a project, through the releases its grant covers), and
-- `log_persons` to the persons it concerns directly (an opt-out, a
-- re-identification's result). An entry's bytes carry, for each direct
-- person, a commitment under that person's secret salt, never the key.

CREATE TABLE log_scopes (
    idx BIGINT NOT NULL,
    release_id BIGINT NOT NULL,
    PRIMARY KEY (idx, release_id)
);

CREATE TABLE log_persons (
    idx BIGINT NOT NULL,
    person_key BIGINT NOT NULL,
    PRIMARY KEY (idx, person_key)
);

-- Each person's commitment salt: 32 random bytes, made on first need,
-- never shown.
CREATE TABLE person_salts (
    person_key BIGINT PRIMARY KEY,
    salt BLOB NOT NULL
);

-- A release's members as a serialized roaring bitmap, so that the index
-- loads a release in one read instead of one row per member.
CREATE TABLE release_bitmaps (
    release_id BIGINT PRIMARY KEY,
    members BLOB NOT NULL
);

-- One-time enrolment codes, as an insurer's letter would carry them. Only
-- the code's SHA-256 is kept, with the claim it was issued for: a keyed
-- hash (the linkage key) of the insured-person number and birth date, so
-- that the code works for that person only and no identifier is stored.
CREATE TABLE enrolment_codes (
    code_sha256 VARCHAR PRIMARY KEY,
    claim BLOB NOT NULL,
    issued_by VARCHAR NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Codes spent, kept apart so that a code row is never updated.
CREATE TABLE enrolment_uses (
    code_sha256 VARCHAR PRIMARY KEY,
    account VARCHAR NOT NULL,
    used_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- A citizen account's person keys: the only trace of enrolment. A person
-- whose records were linked under several keys holds each.
CREATE TABLE citizens (
    account VARCHAR NOT NULL,
    person_key BIGINT NOT NULL,
    enrolled_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (account, person_key)
);

-- Opt-outs withdrawn (the person allows provision again). An opt-out row
-- is removed; this keeps when, for the person's own view.
CREATE TABLE opt_out_withdrawals (
    person_key BIGINT NOT NULL,
    withdrawn_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- The log entry of each row-level disclosure, so that a person's view can
-- point at the entry (and its receipt) that recorded it.
ALTER TABLE row_level_disclosures ADD COLUMN idx BIGINT;
