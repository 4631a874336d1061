"""Executes every notebook in this folder with nbclient, in place of a
person pressing "Run all": a cell that raises fails the run. Used by
tests/it/analysis.rs against a server on synthetic data (`bash .ci/run`).

    python notebooks/run.py [OUT_DIR]

Environment: NIJI_URL, NIJI_TOKEN, NIJI_PROJECT. Executed copies (with
their outputs) are written to OUT_DIR when given.
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    notebooks = sorted(HERE.glob("*.ipynb"))
    if not notebooks:
        sys.exit("no notebooks found")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}})
        client.execute()
        print(f"{path.name}: {len(nb.cells)} cells ran")
        if out:
            out.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, out / path.name)


if __name__ == "__main__":
    main()
