-- Sign-in with the My Number Card (OpenID Connect): see the SQLite
-- migration of the same name.
CREATE TABLE card_signins (
    state_sha256 VARCHAR PRIMARY KEY,
    nonce VARCHAR NOT NULL,
    verifier VARCHAR NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE citizen_subjects (
    subject BLOB PRIMARY KEY,
    account VARCHAR NOT NULL,
    linked_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX citizen_subjects_account ON citizen_subjects (account);
