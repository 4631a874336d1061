-- Source systems: the per-facility client credentials with which a hospital's
-- electronic chart (or another primary-use system) posts FHIR Bundles to
-- `POST /fhir/Bundle`. An admin creates them with `niji sources add`.
--
-- The secret is 256 random bits shown once; only its SHA-256 is kept. A slow
-- password hash would add nothing against guessing a random 256-bit value and
-- would cost every request tens of milliseconds.
CREATE TABLE source_clients (
    client_id VARCHAR PRIMARY KEY,
    facility VARCHAR NOT NULL,
    secret_sha256 BLOB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    revoked_at TIMESTAMPTZ
);
