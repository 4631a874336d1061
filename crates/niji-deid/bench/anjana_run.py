"""Runs anjana's k-anonymity on the inputs of niji's lattice-search
benchmark and prints one JSON object per data set.

    python anjana_run.py ADULT_DIR SYNTHETIC_DIR

anjana (PyPI) generalizes greedily, one quasi-identifier at a time (the one
with the most distinct values), and drops the records of classes below k
when that stays within the suppression limit. Its time is measured after
the data and hierarchies are loaded, as niji's is.
"""
import json
import sys
import time

import pandas as pd
from anjana.anonymity import k_anonymity
import pycanon.anonymity

ADULT = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass", "occupation", "salary-class"]
SYNTHETIC = ["age", "sex", "prefecture", "first_month", "insurer", "care_level", "conditions", "icd10_chapter"]


def hierarchy(path):
    # anjana's form: {level: column of values}, level 0 the value itself.
    return dict(pd.read_csv(path, sep=";", header=None, dtype=str, keep_default_na=False))


def run(name, data_path, hierarchy_path, quasi):
    data = pd.read_csv(data_path, sep=";", dtype=str, keep_default_na=False)
    hierarchies = {q: hierarchy(hierarchy_path.format(q)) for q in quasi}
    started = time.perf_counter()
    anonymized = k_anonymity(data, [], quasi, 5, 0, hierarchies)
    seconds = time.perf_counter() - started
    k = int(pycanon.anonymity.k_anonymity(anonymized, quasi)) if len(anonymized) else 0
    print(json.dumps({
        "data": name,
        "rows": len(data),
        "seconds": seconds,
        "k_checked_by_pycanon": k,
        "rows_out": len(anonymized),
        "distinct_per_column": {q: int(anonymized[q].nunique()) for q in quasi} if len(anonymized) else {},
    }), flush=True)


adult_dir, synthetic_dir = sys.argv[1], sys.argv[2]
run("adult", f"{adult_dir}/adult.csv", adult_dir + "/adult_hierarchy_{}.csv", ADULT)
run("synthetic", f"{synthetic_dir}/synthetic.csv", synthetic_dir + "/synthetic_hierarchy_{}.csv", SYNTHETIC)
