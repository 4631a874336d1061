-- Who a row-level result showed. A pseudonymized release's build stores,
-- for each member, the disclosure tag of their pseudonym: a keyed hash
-- (the linkage key, domain `disclosure`) of the release name and the
-- pseudonym, never the pseudonym itself. When a row-level result shows
-- pseudonyms, the server tags them and finds here the persons they
-- belong to; the result's log entry then names those persons by
-- commitment, so that each sees "a row about you was shown" and no one
-- else does.
--
-- Without the linkage key the table leads from no pseudonym to a person;
-- the holder of that key can already re-link a person's identifiers, so
-- the table gives them nothing the escrow withholds. Anonymized releases
-- get no tags: their pseudonym key is dropped at build so that their
-- pseudonyms lead nowhere, and row-level results are never granted on
-- them.

CREATE TABLE release_disclosure_tags (
    release_id BIGINT NOT NULL,
    tag BLOB NOT NULL,
    person_key BIGINT NOT NULL,
    PRIMARY KEY (release_id, tag)
);

