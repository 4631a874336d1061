-- An admin disables an account: it signs in no more, and its sessions and
-- API tokens stop at once. The account and its history stay (audit events,
-- reviews and applications name it); a disabled account reads as no
-- account to every check that asks for one.

CREATE TABLE disabled_accounts (
    account VARCHAR PRIMARY KEY,
    disabled_by VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    disabled_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
