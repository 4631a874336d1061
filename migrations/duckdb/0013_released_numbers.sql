-- Differencing control: the persons behind every number a project's
-- aggregate results let leave (or held for review), so that a later
-- number of the same family whose persons differ from an earlier one's by
-- 1 to (minimum - 1) persons waits in the airlock with the earlier output
-- beside it (niji-query's `differencing`).
--
-- `members` is a Roaring bitmap (portable serialization) over the
-- release's person index: each person's position in the order of the
-- release's pseudonyms. Like the pseudonym it belongs to one release and
-- leads to no one without the release file; it holds no identifier.
-- `definition` is SHA-256 of what defines the set (relations, cohort,
-- keys, condition, key values): equal definitions on one release are
-- equal sets, recorded once. `label` names the number for the reviewers
-- (output, value, keys); `sql` is the query that gave it. `airlock_id` is
-- the held result it belongs to, NULL when it left at once: numbers of a
-- rejected result never left and are compared with nothing.

CREATE SEQUENCE released_number_id START 1;

CREATE TABLE released_numbers (
    id BIGINT PRIMARY KEY DEFAULT nextval('released_number_id'),
    grant_id BIGINT NOT NULL,
    release VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    persons UBIGINT NOT NULL,
    definition BLOB NOT NULL,
    members BLOB NOT NULL,
    label VARCHAR NOT NULL,
    sql VARCHAR NOT NULL,
    airlock_id BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
