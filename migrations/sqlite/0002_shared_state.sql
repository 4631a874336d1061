-- State the processes of one platform share (several servers on one
-- PostgreSQL; a server and an operator's commands on one SQLite file).

-- A count every change of governance state raises in its own transaction
-- (accounts, organizations, applications, grants, tokens, releases): a
-- server keeps what it read of them only while the count stands.
CREATE TABLE governance_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n INTEGER NOT NULL
) STRICT;
INSERT INTO governance_generation (id, n) VALUES (1, 0);

-- Browser sessions, by the SHA-256 of the cookie's id (hex), so that a
-- session opened on one server is known to the others; a copy of the
-- database holds no live id. The CSRF token is what the pages embed.
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    csrf TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    seen_at TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_account ON sessions (account);
