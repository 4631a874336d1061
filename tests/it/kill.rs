//! `niji ingest` killed with SIGKILL at several moments: after each kill the
//! staging store holds only whole batches, and a rerun completes the work
//! with nothing lost and nothing twice.

use crate::common::*;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

/// Checks that every batch is whole: each content row belongs to a recorded
/// batch, and each batch has as many subjects (one per accepted record) and
/// rejects as it recorded. Returns (batches, records).
fn whole_batches_only(data: &Path) -> (usize, i64) {
    let staging = niji_ingest::Staging::open(data).unwrap();
    let conn = staging.connection();
    for table in niji_core::content::TABLES
        .iter()
        .map(|t| t.name)
        .chain(["rejects"])
    {
        let orphans: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {table} WHERE batch_id NOT IN (SELECT batch_id FROM batches)"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0, "{table} has rows of an unrecorded batch");
    }
    let short: Vec<(i64, i64, i64, i64, i64)> = {
        let mut stmt = conn
            .prepare(
                "SELECT b.batch_id, b.records, coalesce(s.n, 0), b.rejected, coalesce(r.n, 0)
                 FROM batches b
                 LEFT JOIN (SELECT batch_id, count(*) n FROM subjects GROUP BY ALL) s USING (batch_id)
                 LEFT JOIN (SELECT batch_id, count(*) n FROM rejects GROUP BY ALL) r USING (batch_id)
                 WHERE b.records <> coalesce(s.n, 0) OR b.rejected <> coalesce(r.n, 0)",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    assert!(
        short.is_empty(),
        "batches not whole (id, records, subjects, rejected, rejects): {short:?}"
    );
    let batches = staging.batches().unwrap();
    let records = batches.iter().map(|b| b.records).sum();
    (batches.len(), records)
}

#[test]
fn a_killed_ingest_leaves_only_whole_batches_and_a_rerun_completes() {
    let env = Env::new();
    ok(&env.init(&[]));
    // Large enough for several groups of batches, so several kills.
    let pop = env.synth(500, 3, "2020-01", "2020-12");
    let truth = std::fs::read_to_string(pop.join("truth/records.csv")).unwrap();
    let truth_records = truth.lines().count() as i64 - 1;
    // Every source directory; truth/ is not a source and would be refused.
    let sources: Vec<_> = std::fs::read_dir(&pop)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("truth") && !p.ends_with(".spool"))
        .collect();
    let ingest = || {
        let mut cmd = env.niji(&["ingest", "--json"]);
        cmd.args(&sources)
            .env("NIJI_PASSPHRASE", PASSPHRASE)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };

    // Each run is killed just after it reports its first committed group,
    // whatever the machine's speed: the kill lands while the next group is
    // parsed or written. A run that commits nothing new before it ends has
    // nothing left to interrupt.
    let mut killed_mid_way = 0;
    let mut previous = 0;
    for _ in 0..20 {
        let mut child = ingest()
            .env("NIJI_LOG_LEVEL", "warn,niji_ingest=debug")
            .env("NIJI_LOG_FORMAT", "json")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let committed = BufReader::new(child.stderr.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("group committed"));
        if !committed {
            child.wait().unwrap();
            break;
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no rollback by us
        let status = child.wait().unwrap();
        let (batches, _) = whole_batches_only(&env.data());
        assert!(batches > previous, "a committed group is kept");
        if status.signal().is_some() {
            killed_mid_way += 1;
        }
        previous = batches;
    }
    assert!(
        killed_mid_way >= 2,
        "the kills did not land mid-way ({killed_mid_way})"
    );

    // The rerun skips what is in (duplicates) and adds the rest, once.
    ok(&ingest().stdout(Stdio::piped()).output().unwrap());
    let (batches, records) = whole_batches_only(&env.data());
    assert_eq!(records, truth_records, "every truth record, exactly once");
    let files = walk(&pop)
        .into_iter()
        .filter(|p| !p.starts_with(pop.join("truth")))
        .count();
    assert_eq!(batches, files, "one batch per source file");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
