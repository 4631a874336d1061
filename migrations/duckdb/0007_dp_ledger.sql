-- The privacy-budget ledger: each differentially private release debits
-- its ρ (zCDP) from its project's grant, in the same transaction that
-- checks the budget, before the release is made.

CREATE TABLE dp_ledger (
    grant_id BIGINT NOT NULL,
    account VARCHAR NOT NULL,
    rho DOUBLE NOT NULL CHECK (rho > 0),
    spec VARCHAR NOT NULL,
    spent_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
