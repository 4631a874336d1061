-- Revocation by the review board: a reviewer outside the project asks for
-- a grant's revocation with reasons, and the grant is revoked when as many
-- reviewers as an approval needs (the board's quorum) have asked. An admin
-- revokes at once, with reasons. Each request is kept: who asked, why and
-- when, beside the grant's own `revoked_by`.

CREATE TABLE revocation_requests (
    grant_id BIGINT NOT NULL,
    reviewer VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (grant_id, reviewer)
);
