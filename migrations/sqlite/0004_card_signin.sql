-- Sign-in with the My Number Card (OpenID Connect). A sign-in under way is
-- kept by the SHA-256 of its `state` (the value itself is only in the
-- browser's cookie and the provider's redirect) with its nonce and PKCE
-- verifier, for ten minutes and one use, so that any server of the
-- platform can take the provider's answer. A citizen account remembers the
-- provider's subject only as a keyed hash (linkage key, domain
-- `card-subject`): nothing of the card's items is stored.
CREATE TABLE card_signins (
    state_sha256 TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    opened_at TEXT NOT NULL
) STRICT;

CREATE TABLE citizen_subjects (
    subject BLOB PRIMARY KEY,
    account TEXT NOT NULL,
    linked_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
) STRICT;
CREATE INDEX citizen_subjects_account ON citizen_subjects (account);
