-- The access log: every audit event is a leaf of one RFC 6962 Merkle
-- tree (niji-audit). `log_leaves` maps a leaf index (dense, from 0) to its
-- event; `log_nodes` keeps the hash of every complete subtree: level 0
-- holds the leaf hashes, and (level, idx) covers leaves
-- idx·2^level .. (idx+1)·2^level, so proofs read O(log n) rows.

CREATE TABLE log_leaves (
    idx BIGINT PRIMARY KEY,
    event_id BIGINT NOT NULL UNIQUE
);

CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);
