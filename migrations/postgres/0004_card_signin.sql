-- Sign-in with the My Number Card (OpenID Connect): see the SQLite
-- migration of the same name.
CREATE TABLE card_signins (
    state_sha256 TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE citizen_subjects (
    subject BYTEA PRIMARY KEY,
    account TEXT NOT NULL,
    linked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX citizen_subjects_account ON citizen_subjects (account);
