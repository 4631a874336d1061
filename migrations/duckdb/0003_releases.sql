-- Releases: each built release's manifest and members, the persons who
-- opted out, the escrowed pseudonym keys of pseudonymized releases with
-- the re-identification requests against them, and the audit events of
-- those steps.

CREATE SEQUENCE release_id START 1;

-- One row per built release. The release data itself is a read-only DuckDB
-- file under releases/ in the data directory; `manifest` is the build's
-- report (JSON): source batches, row counts, levels, risk, rare codes.
CREATE TABLE releases (
    release_id BIGINT PRIMARY KEY DEFAULT nextval('release_id'),
    name VARCHAR NOT NULL UNIQUE,
    tier VARCHAR NOT NULL CHECK (tier IN ('anonymized', 'pseudonymized')),
    policy_sha256 VARCHAR NOT NULL,
    policy VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    built_by VARCHAR NOT NULL,
    built_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    persons BIGINT NOT NULL,
    manifest VARCHAR NOT NULL
);

-- Which persons each release holds: never published, read for a person's
-- own view of where their data went.
CREATE TABLE release_members (
    release_id BIGINT NOT NULL,
    person_key BIGINT NOT NULL,
    PRIMARY KEY (release_id, person_key)
);

-- Persons who refused secondary use. Every release built after the
-- opt-out leaves them out.
CREATE TABLE opt_outs (
    person_key BIGINT PRIMARY KEY,
    opted_out_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- A pseudonymized release's pseudonym key, sealed (AES-256-GCM) under the
-- escrow key. It is kept nowhere else.
CREATE TABLE release_escrow (
    release_id BIGINT PRIMARY KEY,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL
);

CREATE SEQUENCE reidentification_id START 1;

-- A request to map one pseudonym back to its source records, for a
-- regulator's investigation. It opens only when a second admin, not the
-- requester, approves it.
CREATE TABLE reidentifications (
    id BIGINT PRIMARY KEY DEFAULT nextval('reidentification_id'),
    release_id BIGINT NOT NULL,
    pseudonym VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    requested_by VARCHAR NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    approved_by VARCHAR,
    approved_at TIMESTAMPTZ
);

CREATE SEQUENCE audit_event_id START 1;

-- Audit events, append-only. The access-log issue puts them under a Merkle
-- tree; until then they are rows in order.
CREATE TABLE audit_events (
    id BIGINT PRIMARY KEY DEFAULT nextval('audit_event_id'),
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    actor VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    detail VARCHAR NOT NULL
);
