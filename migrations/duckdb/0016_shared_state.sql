-- State the processes of one platform share (several servers on one
-- PostgreSQL; a server and an operator's commands on one SQLite file).

-- A count every change of governance state raises in its own transaction
-- (accounts, organizations, applications, grants, tokens, releases): a
-- server keeps what it read of them only while the count stands.
CREATE TABLE governance_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO governance_generation (id, n) VALUES (1, 0);

-- Browser sessions, by the SHA-256 of the cookie's id (hex), so that a
-- session opened on one server is known to the others; a copy of the
-- database holds no live id. The CSRF token is what the pages embed.
CREATE TABLE sessions (
    id_sha256 VARCHAR PRIMARY KEY,
    account VARCHAR NOT NULL,
    csrf VARCHAR NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_account ON sessions (account);
