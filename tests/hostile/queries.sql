-- Hostile queries: every one must be refused or contained (stopped by a
-- limit), by the sandbox alone (crates/niji-query/tests/queries.rs) and
-- through the gate over HTTP (tests/it/hostile.rs). One query per line; lines
-- starting with "--" are comments; OUT stands for a path beside the data.
-- Reading files.
SELECT count(*) FROM read_csv('/etc/passwd')
SELECT count(*) FROM read_csv_auto('/etc/passwd')
SELECT count(*) FROM read_parquet('/tmp/x.parquet')
SELECT count(*) FROM read_json('/tmp/x.json')
SELECT count(*) FROM read_json_auto('/tmp/x.json')
SELECT count(*) FROM read_text('/etc/passwd')
SELECT count(*) FROM read_blob('/etc/passwd')
SELECT count(*) FROM glob('/*')
SELECT count(*) FROM '/etc/passwd'
SELECT count(*) FROM 'data.csv'
SELECT count(*) FROM "/etc/passwd"
SELECT count(*) FROM parquet_scan('/tmp/x.parquet')
SELECT count(*) FROM sniff_csv('/etc/passwd')
SELECT count(*) FROM (SELECT * FROM read_csv('/etc/passwd'))
SELECT count(*) FROM persons JOIN read_csv('/etc/passwd') ON true
SELECT count(*) FROM persons, LATERAL (SELECT * FROM read_csv('/etc/passwd'))
SELECT count(*) FROM persons WHERE sex IN (SELECT column0 FROM read_csv('/etc/passwd'))
-- Writing files.
EXPORT DATABASE 'OUT'
COPY persons TO 'OUT.csv'
COPY (SELECT * FROM persons) TO 'OUT.parquet' (FORMAT parquet)
SELECT count(*) FROM persons; COPY persons TO 'OUT.csv'
-- Attaching, extensions, configuration.
ATTACH 'OUT.duckdb' AS x
DETACH r0
INSTALL httpfs
LOAD httpfs
SET enable_external_access = true
SET lock_configuration = false
RESET memory_limit
PRAGMA database_list
PRAGMA show_tables
CALL pragma_version()
SELECT current_setting('memory_limit')
SELECT getenv('HOME')
SELECT count(*) FROM persons WHERE sex = getenv('USER')
SELECT load_extension('httpfs')
-- The catalog, and objects outside the grant.
SELECT count(*) FROM duckdb_tables()
SELECT count(*) FROM duckdb_columns()
SELECT count(*) FROM duckdb_settings()
SELECT count(*) FROM duckdb_extensions()
SELECT count(*) FROM duckdb_databases()
SELECT count(*) FROM pragma_database_list()
SELECT count(*) FROM information_schema.tables
SELECT count(*) FROM information_schema.columns
SELECT count(*) FROM sqlite_master
SELECT count(*) FROM r0.persons
SELECT count(*) FROM r0.main.persons
SELECT count(*) FROM main.persons
SELECT secret_col, count(*) FROM persons GROUP BY secret_col
SELECT p.secret_col, count(*) FROM persons p GROUP BY 1
SELECT count(*) FROM persons WHERE secret_col IS NOT NULL
SELECT count(*) FROM query('SELECT * FROM r0.persons')
SELECT count(*) FROM query_table('persons')
SELECT count(*) FROM __niji_bucketed_persons
SELECT count(*) FROM main.__niji_bucketed_claims
SELECT __niji_bucket, count(*) FROM persons GROUP BY 1
SELECT count(*) FROM persons WHERE __niji_bucket < 32
SELECT most_rows FROM niji.person_rows
SELECT most_rows FROM r0.niji.person_rows
SELECT count(*) FROM persons WHERE 1 < (SELECT max(most_rows) FROM niji.person_rows)
SELECT count(*) AS __niji_persons FROM persons
SELECT sex AS __NIJI_rows, count(*) FROM persons GROUP BY 1
WITH __niji_bucketed_persons AS (SELECT * FROM persons) SELECT count(*) FROM __niji_bucketed_persons
DESCRIBE persons
SHOW TABLES
SUMMARIZE persons
-- Changing data.
DROP VIEW persons
CREATE TABLE t AS SELECT * FROM persons
INSERT INTO claims VALUES ('x', 'y', 1)
UPDATE persons SET sex = 'x'
DELETE FROM claims
VACUUM
CHECKPOINT
SELECT 1; SELECT 2
-- Resource bombs.
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r
SELECT count(*) FROM range(10000000000)
SELECT count(*) FROM generate_series(1, 10000000000)
SELECT count(*) FROM persons a, persons b, persons c, persons d, persons e, persons f
SELECT a.code, count(*) FROM claims a, claims b, claims c, claims d GROUP BY a.code
-- Row-level output where the grant allows aggregates only.
SELECT * FROM persons
SELECT pseudonym, sex FROM persons
SELECT pseudonym, count(*) FROM persons GROUP BY pseudonym
SELECT upper(p.pseudonym) AS who, count(*) FROM persons p GROUP BY 1
SELECT pseudonym, count(*) FROM persons GROUP BY pseudonym HAVING count(*) > 0 LIMIT 0; SELECT 1
-- Functions outside the allowlist.
SELECT regexp_matches(sex, 'a'), count(*) FROM persons GROUP BY 1
SELECT list(pseudonym) FROM persons
SELECT string_agg(pseudonym, ',') FROM persons
SELECT count(*) FROM persons WHERE sex = chr(49)
SELECT version()
