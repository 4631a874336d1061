-- API tokens for notebooks: each scoped to one project (grant) and held by
-- one of its members, with an expiry. The token is `<token id>.<secret>`,
-- shown once; only the secret's SHA-256 is kept (it is 256 random bits, so
-- a slow hash would add nothing and cost every request).
CREATE TABLE api_tokens (
    token_id VARCHAR PRIMARY KEY,
    secret_sha256 BLOB NOT NULL,
    account VARCHAR NOT NULL,
    grant_id BIGINT NOT NULL,
    expires_on DATE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    revoked_at TIMESTAMPTZ
);
