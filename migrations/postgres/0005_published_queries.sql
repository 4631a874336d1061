-- A grant's term on its public activity log: see the SQLite migration of
-- the same name.
ALTER TABLE grants ADD COLUMN publish_queries BOOLEAN NOT NULL DEFAULT false;
