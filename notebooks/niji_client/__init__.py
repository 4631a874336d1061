"""A small client of niji's analysis API for notebooks.

It talks to the server with an API token (made on the project page or with
``POST /api/v1/tokens``) and returns polars DataFrames:

    from niji_client import Client
    niji = Client()                      # NIJI_URL, NIJI_TOKEN, NIJI_PROJECT
    niji.tables()                        # the granted tables and columns
    niji.columns()                       # the same, one row per column
    df = niji.query("SELECT sex, count(*) AS n FROM persons GROUP BY sex")
    dp, noise = niji.dp_query("persons", [{"kind": "count"}], rho=0.1,
                              group_by=[("sex", "sex")])
    niji.budget()                        # rho granted, spent and left
    est, fit = niji.model("binomial", "claims", "inpatient ~ points")
    frames = niji.dummy("dummy")         # synthetic rows of the granted tables

Frames are polars DataFrames, or pandas ones with ``Client(frame="pandas")``
(``pip install "./notebooks[pandas]"``).

Aggregate results come as Arrow IPC streams; suppressed cells are null, and
what disclosure control did, in words, is in ``niji.last_findings``. A result held for
review raises ``Held`` with its airlock id; fetch it later with
``niji.result(id)``. Refusals raise ``NijiError``, which carries the API's
problem (RFC 9457): ``status``, ``title``, ``detail`` and the whole
``problem``.

``model`` fits a generalized linear model (gaussian, binomial, poisson) on
a granted table under the grant's rule set and answers its estimates (a
frame: name, term, level, estimate, std_error, statistic, p_value, lower,
upper) and the fit's summary (deviance, residual_df, persons, …).

``dummy`` downloads the project's dummy data — the granted tables'
columns and types with synthetic rows, built from a synthetic population
through the release's own policy — as ``TABLE.parquet`` files in a
directory, and answers them as frames. Write a query against them locally
(DuckDB reads the files by name), then send the same text to ``query``.

A request that runs longer than the server waits becomes a job: the client
polls it (``GET /api/v1/jobs/{id}``), printing its progress, and fetches its
result when it ends. Interrupting the notebook cancels the job.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from typing import Any, Dict, Iterable, Literal, Optional, Sequence, Tuple

import polars as pl

ARROW = "application/vnd.apache.arrow.stream"

Frame = Any
"""A polars DataFrame, or a pandas one when the client was asked for pandas."""


class NijiError(Exception):
    """A request the server refused or could not answer, with its problem
    details (RFC 9457) as the API gave them."""

    def __init__(self, status: int, detail: str, problem: Optional[dict] = None):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.problem = problem or {}
        self.title = self.problem.get("title")


class Held(Exception):
    """A result held in the airlock until two reviewers release it."""

    def __init__(self, airlock: Optional[int]):
        super().__init__(f"the result is held for review (airlock {airlock})")
        self.airlock = airlock


class Client:
    """One project of one account, through its API token."""

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        project: Optional[int] = None,
        frame: Literal["polars", "pandas"] = "polars",
    ):
        self.url = (url or os.environ["NIJI_URL"]).rstrip("/")
        self.token = token or os.environ["NIJI_TOKEN"]
        self.project = int(project or os.environ["NIJI_PROJECT"])
        if frame not in ("polars", "pandas"):
            raise ValueError("frame: polars or pandas")
        self.frame = frame
        self.last_findings: Optional[list] = None
        self.last_budget: Optional[dict] = None
        self.dummy_directory: Optional[str] = None

    def _frame(self, df: pl.DataFrame) -> Frame:
        return df.to_pandas() if self.frame == "pandas" else df

    def _request(self, method: str, path: str, body: Optional[dict] = None,
                 accept: str = "application/json") -> Tuple[int, Any, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", accept)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                problem = json.loads(text)
                detail = problem.get("detail", text)
            except (ValueError, AttributeError):
                problem, detail = None, text
            raise NijiError(error.code, detail, problem) from None

    def _settled(self, reply: Tuple[int, Any, bytes], accept: str = "application/json") -> Tuple[int, Any, bytes]:
        """The answer of an analysis request, following it if it became a job."""
        status, headers, body = reply
        if status != 202 or not headers.get("Content-Type", "").startswith("application/json"):
            return reply
        job = json.loads(body).get("job")
        if job is None:
            return reply
        try:
            while True:
                _, _, body = self._request("GET", f"/api/v1/jobs/{job}")
                view = json.loads(body)
                if view["status"] != "running":
                    break
                if view.get("progress") is not None:
                    print(f"job {job[:8]}: {view['progress']:.0f}%", end="\r")
                time.sleep(0.2)
        except KeyboardInterrupt:
            self._request("DELETE", f"/api/v1/jobs/{job}")
            raise
        return self._request("GET", f"/api/v1/jobs/{job}/result", accept=accept)

    def _project(self, rest: str) -> str:
        return f"/api/v1/projects/{self.project}{rest}"

    def tables(self) -> list:
        """The granted tables: name, release and columns (name, type, description)."""
        _, _, body = self._request("GET", self._project("/tables"))
        return json.loads(body)

    def columns(self) -> Frame:
        """Every granted column as a DataFrame: table, column, type, description."""
        rows = [
            {"table": t["name"], "column": c["name"], "type": c["type"],
             "description": c["description"]}
            for t in self.tables()
            for c in t["columns"]
        ]
        return self._frame(pl.DataFrame(rows))

    def query(self, sql: str) -> Frame:
        """An aggregate SQL query, as a DataFrame (suppressed cells null)."""
        status, headers, body = self._settled(
            self._request("POST", self._project("/queries"), {"sql": sql}, accept=ARROW),
            accept=ARROW,
        )
        if status == 202 or not headers.get("Content-Type", "").startswith(ARROW):
            held = json.loads(body)
            raise Held(held.get("airlock"))
        self.last_findings = json.loads(headers.get("X-Niji-Findings", "[]"))
        return self._frame(pl.read_ipc_stream(io.BytesIO(body)))

    def result(self, airlock: int) -> Frame:
        """A held result, once released."""
        status, _, body = self._request("GET", self._project(f"/results/{airlock}"))
        released = json.loads(body)
        if status == 202:
            raise Held(airlock)
        return self._frame(pl.DataFrame(released["rows"], schema=released["columns"], orient="row"))

    def dp_query(self, table: str, measures: Sequence[dict], rho: float,
                 group_by: Iterable[Tuple[str, str]] = (),
                 max_rows_per_person: int = 1) -> Tuple[Frame, Frame]:
        """A differentially private query: (DataFrame, noise per measure)."""
        spec = {
            "table": table,
            "group_by": [{"column": c, "keyset": k} for c, k in group_by],
            "measures": measures,
            "rho": rho,
            "max_rows_per_person": max_rows_per_person,
        }
        _, _, body = self._settled(self._request("POST", self._project("/dp-queries"), spec))
        released = json.loads(body)
        frame = pl.DataFrame(released["rows"], schema=released["columns"], orient="row")
        noise = pl.DataFrame(released["noise"])
        self.last_budget = released["budget"]
        return self._frame(frame), self._frame(noise)

    def budget(self) -> dict:
        """The project's rho: total, spent and left."""
        _, _, body = self._request("GET", self._project("/budget"))
        return json.loads(body)

    def model(self, family: str, table: str, formula: Optional[str] = None,
              response: Optional[str] = None,
              terms: Sequence[str] = ()) -> Tuple[Frame, dict]:
        """A generalized linear model under the grant's rule set: its
        estimates as a DataFrame and the rest of the fit as a dict. Give a
        ``formula`` (``"y ~ a + factor(b)"``), or ``response`` and ``terms``."""
        spec: dict = {"family": family, "table": table}
        if formula is not None:
            spec["formula"] = formula
        else:
            spec["response"] = response
            spec["terms"] = list(terms)
        _, _, body = self._settled(self._request("POST", self._project("/models"), spec))
        fitted = json.loads(body)
        estimates = pl.DataFrame(fitted.pop("estimates"))
        return self._frame(estimates), fitted

    def dummy(self, directory: Optional[str] = None) -> Dict[str, Frame]:
        """The project's dummy data: each granted table as ``TABLE.parquet``
        in ``directory`` (created; a temporary one by default), read into
        DataFrames by table name. Synthetic rows — none from the release —
        with its columns, types and value domains."""
        _, _, body = self._request("GET", self._project("/dummy"), accept="application/zip")
        directory = directory or tempfile.mkdtemp(prefix="niji-dummy-")
        os.makedirs(directory, exist_ok=True)
        frames: Dict[str, Frame] = {}
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for name in archive.namelist():
                # Names are the server's table names; never a path.
                if "/" in name or "\\" in name or not name.endswith(".parquet"):
                    raise NijiError(500, f"unexpected file in the dummy data: {name!r}")
                path = os.path.join(directory, name)
                with open(path, "wb") as out:
                    out.write(archive.read(name))
                frames[name[: -len(".parquet")]] = self._frame(pl.read_parquet(path))
        self.dummy_directory = directory
        return frames
