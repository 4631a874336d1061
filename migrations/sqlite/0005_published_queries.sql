-- A grant's term on its public activity log: whether the text of each of
-- its queries is shown there (the reviewers' decision; off unless given).
ALTER TABLE grants ADD COLUMN publish_queries INTEGER NOT NULL DEFAULT 0;
