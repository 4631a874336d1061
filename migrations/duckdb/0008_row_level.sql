-- Pseudonyms that left the platform in row-level results (a grant that
-- allows them: the pseudonymized tier, a certified organization). The
-- citizen's view reads this to tell a person which projects saw their
-- pseudonym. A pseudonym is release-scoped: it is recorded with each
-- release of the grant, and matches a person only in its own.

CREATE TABLE row_level_disclosures (
    grant_id BIGINT NOT NULL,
    account VARCHAR NOT NULL,
    release VARCHAR NOT NULL,
    pseudonym VARCHAR NOT NULL,
    disclosed_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
