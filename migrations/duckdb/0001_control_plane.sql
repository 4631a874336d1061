-- The control-plane store: keystore and accounts.
-- Release data never lives here; this database holds who may do what and the
-- sealed keys that protect everything else.

-- One row: how the key-encryption key is derived from the operator's
-- passphrase (argon2id parameters and salt) and a sealed check value that
-- tells a wrong passphrase apart from a damaged key.
CREATE TABLE keystore (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kdf_m_kib INTEGER NOT NULL,
    kdf_t INTEGER NOT NULL,
    kdf_p INTEGER NOT NULL,
    salt BLOB NOT NULL,
    check_nonce BLOB NOT NULL,
    check_tag BLOB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- Platform keys, each sealed with AES-256-GCM under the key-encryption key.
-- The associated data binds each sealed key to its name and kind.
CREATE TABLE wrapped_keys (
    name VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE account_id START 1;

-- Accounts of operators, review-board members and researchers. Passwords are
-- argon2id PHC strings (m = 19 MiB, t = 2, p = 1).
CREATE TABLE accounts (
    id BIGINT PRIMARY KEY DEFAULT nextval('account_id'),
    name VARCHAR NOT NULL UNIQUE,
    role VARCHAR NOT NULL,
    password_hash VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
