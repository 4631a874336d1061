-- What an audit event concerns, as columns beside its subject text: the
-- project (grant id) and the release, so that the access log's scopes and
-- a person's view read ids, not text. Events written before get theirs
-- from the subject text as niji wrote it (`project N`, `grant N`, a
-- release's own `release.` events naming it), by the kinds that name
-- them: an organization may be called `grant 7`.
ALTER TABLE audit_events ADD COLUMN project_id BIGINT;
ALTER TABLE audit_events ADD COLUMN release_id BIGINT;
UPDATE audit_events SET project_id = CAST(substr(subject, 9) AS BIGINT) WHERE subject LIKE 'project %'
    AND (kind LIKE 'analysis.%' OR kind IN ('dp.debit', 'airlock.hold'));
UPDATE audit_events SET project_id = CAST(substr(subject, 7) AS BIGINT) WHERE subject LIKE 'grant %'
    AND (kind LIKE 'grant.%' OR kind LIKE 'token.%');
UPDATE audit_events SET release_id = (SELECT r.release_id FROM releases r WHERE r.name = audit_events.subject)
    WHERE kind LIKE 'release.%';
CREATE INDEX audit_events_project ON audit_events (project_id);
