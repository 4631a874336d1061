-- Governance: organizations, applications with what they request, reviews,
-- and the grants that state what a project may touch and until when.

CREATE SEQUENCE organization_id START 1;

-- A research organization. Only a certified one (認定仮名加工医療情報利用
-- 事業者) may apply for the pseudonymized tier.
CREATE TABLE organizations (
    id BIGINT PRIMARY KEY DEFAULT nextval('organization_id'),
    name VARCHAR NOT NULL UNIQUE,
    certified BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- Which organization an account belongs to (researchers; reviewers too, for
-- conflicts of interest).
CREATE TABLE account_organizations (
    account VARCHAR PRIMARY KEY,
    organization_id BIGINT NOT NULL
);

CREATE SEQUENCE application_id START 1;

-- An application: draft, submitted, returned (rejected or changes asked,
-- with reasons), withdrawn or approved. `round` counts submissions, so that
-- reviews of an earlier round do not count towards the quorum.
CREATE TABLE applications (
    id BIGINT PRIMARY KEY DEFAULT nextval('application_id'),
    applicant VARCHAR NOT NULL,
    organization_id BIGINT NOT NULL,
    title VARCHAR NOT NULL,
    purpose VARCHAR NOT NULL,
    lay_summary VARCHAR NOT NULL,
    tier VARCHAR NOT NULL CHECK (tier IN ('anonymized', 'pseudonymized')),
    starts DATE NOT NULL,
    ends DATE NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'draft',
    round INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    submitted_at TIMESTAMPTZ
);

-- The members of an application's project, the applicant included.
CREATE TABLE application_members (
    application_id BIGINT NOT NULL,
    account VARCHAR NOT NULL,
    PRIMARY KEY (application_id, account)
);

-- What an application requests, column by column: data minimization is
-- judged on this.
CREATE TABLE application_items (
    application_id BIGINT NOT NULL,
    release VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    PRIMARY KEY (application_id, release, table_name, column_name)
);

CREATE TABLE reviews (
    application_id BIGINT NOT NULL,
    round INTEGER NOT NULL,
    reviewer VARCHAR NOT NULL,
    decision VARCHAR NOT NULL CHECK (decision IN ('approve', 'reject', 'changes')),
    comment VARCHAR NOT NULL,
    reviewed_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (application_id, round, reviewer)
);

CREATE SEQUENCE grant_id START 1;

-- A grant: the project an approved application becomes, with its
-- conditions. Revocation and expiry take effect on the next request.
CREATE TABLE grants (
    id BIGINT PRIMARY KEY DEFAULT nextval('grant_id'),
    application_id BIGINT NOT NULL UNIQUE,
    rule_set VARCHAR NOT NULL,
    row_level BOOLEAN NOT NULL,
    dp_rho DOUBLE NOT NULL,
    -- The last day the grant is in force (UTC).
    expires_on DATE NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    revoked_at TIMESTAMPTZ,
    revoked_by VARCHAR
);

-- What a grant allows: a subset of its application's items.
CREATE TABLE grant_items (
    grant_id BIGINT NOT NULL,
    release VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    PRIMARY KEY (grant_id, release, table_name, column_name)
);
