-- The airlock: analysis results with cells held for review wait here until
-- two reviewers who are not their author release them, or one rejects
-- them. The result is the platform's JSON rendering of the aggregate, with
-- suppressed cells already withheld; it holds no person identifier.

CREATE SEQUENCE airlock_id START 1;

CREATE TABLE airlock (
    id BIGINT PRIMARY KEY DEFAULT nextval('airlock_id'),
    grant_id BIGINT NOT NULL,
    author VARCHAR NOT NULL,
    sql VARCHAR NOT NULL,
    result VARCHAR NOT NULL,
    findings VARCHAR NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('held', 'released', 'rejected')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    decided_at TIMESTAMPTZ
);

CREATE TABLE airlock_reviews (
    airlock_id BIGINT NOT NULL,
    reviewer VARCHAR NOT NULL,
    decision VARCHAR NOT NULL CHECK (decision IN ('release', 'reject')),
    comment VARCHAR NOT NULL,
    reviewed_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (airlock_id, reviewer)
);
