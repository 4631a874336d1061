"""Links the raw claims with Splink (DuckDB backend) and scores the result
against the truth with the same definitions as `niji link --truth`.

    python splink_link.py RAW.parquet REPORT.json [--probabilistic]

Deterministic: records joined when ID1 or ID4 match exactly on the raw
fields (insurer, symbol, number, birth, sex; or kana, birth, sex), then
connected components. Probabilistic: Splink's Fellegi-Sunter model with
default comparisons, trained by random sampling and EM, clustered at 0.95.
"""
import json
import os
import sys
import time

import duckdb
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
import splink.comparison_library as cl


def score(con, clusters_table):
    """Pairwise and B-cubed scores of clusters (unique_id, cluster_id)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cells AS
            SELECT c.cluster_id, r.person_id, count(*) AS n
            FROM {clusters_table} c JOIN raw r USING (unique_id)
            GROUP BY ALL"""
    ).fetchall()
    (together, found, true_, bp, br, merges, splits, records) = con.execute(
        """WITH g AS (SELECT cluster_id, sum(n) AS size, count(*) AS persons FROM cells GROUP BY ALL),
                p AS (SELECT person_id, sum(n) AS size, count(*) AS groups FROM cells GROUP BY ALL)
           SELECT
             (SELECT sum(n * (n - 1) / 2) FROM cells),
             (SELECT sum(size * (size - 1) / 2) FROM g),
             (SELECT sum(size * (size - 1) / 2) FROM p),
             (SELECT sum(c.n * c.n / g.size) FROM cells c JOIN g USING (cluster_id)),
             (SELECT sum(c.n * c.n / p.size) FROM cells c JOIN p USING (person_id)),
             (SELECT sum(persons - 1) FROM g),
             (SELECT sum(groups - 1) FROM p),
             (SELECT sum(n) FROM cells)"""
    ).fetchall()[0]
    precision = together / found if found else 1.0
    recall = together / true_ if true_ else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "bcubed_precision": bp / records,
        "bcubed_recall": br / records,
        "false_merges": int(merges),
        "false_splits": int(splits),
    }


def save(report, out):
    with open(report, "w") as f:
        json.dump(out, f, indent=2)


def main(raw, report, probabilistic):
    con = duckdb.connect()
    # In memory, but free to spill beside the report: at ten million
    # records the deterministic pairs outgrow the machine's memory.
    con.execute(f"SET temp_directory = '{os.path.join(os.path.dirname(os.path.abspath(report)), 'splink.tmp')}'").fetchall()
    con.execute(f"CREATE TABLE raw AS SELECT * FROM read_parquet('{raw}')").fetchall()
    records = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    db_api = DuckDBAPI(connection=con)
    out = {"records": records}

    started = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("insurer", "symbol", "number", "birth", "sex"),
            block_on("kana", "birth", "sex"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(db_api.register("raw"), settings)
    pairs = linker.inference.deterministic_link()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs)
    seconds = time.perf_counter() - started
    # Each statement's result is fetched: the connection is shared with
    # Splink, which refuses to run while a result is pending.
    con.execute(f"CREATE TABLE det AS SELECT unique_id, cluster_id FROM {clusters.physical_name}").fetchall()
    out["deterministic"] = {"seconds": seconds, "records_per_second": records / seconds, **score(con, "det")}
    print("deterministic", out["deterministic"], flush=True)
    # Saved now, so that a probabilistic run stopped for taking too long
    # leaves the deterministic figures.
    save(report, out)

    if probabilistic:
        started = time.perf_counter()
        settings = SettingsCreator(
            link_type="dedupe_only",
            blocking_rules_to_generate_predictions=[
                block_on("insurer", "number"),
                block_on("kana", "birth"),
            ],
            comparisons=[
                cl.ExactMatch("kana"),
                cl.ExactMatch("kanji"),
                cl.ExactMatch("birth"),
                cl.ExactMatch("sex"),
                cl.ExactMatch("insurer"),
                cl.ExactMatch("number"),
            ],
        )
        linker = Linker(db_api.register("raw"), settings)
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth", "sex"))
        predictions = linker.inference.predict(threshold_match_probability=0.5)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.95)
        seconds = time.perf_counter() - started
        con.execute(f"CREATE TABLE prob AS SELECT unique_id, cluster_id FROM {clusters.physical_name}").fetchall()
        out["probabilistic"] = {"seconds": seconds, "records_per_second": records / seconds, **score(con, "prob")}
        print("probabilistic", out["probabilistic"], flush=True)
        save(report, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--probabilistic" in sys.argv[3:])
