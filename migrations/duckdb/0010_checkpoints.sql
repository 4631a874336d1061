-- Signed checkpoints of the access log: every one issued is kept, with the
-- note as signed (a C2SP signed note of a C2SP tlog checkpoint) and the
-- verifier key that checks it, so that `niji log verify` needs no secret.

CREATE TABLE log_checkpoints (
    size BIGINT PRIMARY KEY,
    root BLOB NOT NULL,
    note VARCHAR NOT NULL,
    verifier VARCHAR NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
