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

Aggregate results come as Arrow IPC streams; suppressed cells are null, and
what disclosure control did, in words, is in ``niji.last_findings``. A result held for
review raises ``Held`` with its airlock id; fetch it later with
``niji.result(id)``. Refusals raise ``NijiError`` with the server's reason.

A request that runs longer than the server waits becomes a job: the client
polls it (``GET /api/v1/jobs/{id}``), printing its progress, and fetches its
result when it ends. Interrupting the notebook cancels the job.
"""

import io
import json
import os
import time
import urllib.error
import urllib.request

import polars as pl

ARROW = "application/vnd.apache.arrow.stream"


class NijiError(Exception):
    """A request the server refused or could not answer."""

    def __init__(self, status, detail):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class Held(Exception):
    """A result held in the airlock until two reviewers release it."""

    def __init__(self, airlock):
        super().__init__(f"the result is held for review (airlock {airlock})")
        self.airlock = airlock


class Client:
    """One project of one account, through its API token."""

    def __init__(self, url=None, token=None, project=None):
        self.url = (url or os.environ["NIJI_URL"]).rstrip("/")
        self.token = token or os.environ["NIJI_TOKEN"]
        self.project = int(project or os.environ["NIJI_PROJECT"])
        self.last_findings = None

    def _request(self, method, path, body=None, accept="application/json"):
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
                detail = json.loads(text).get("detail", text)
            except ValueError:
                detail = text
            raise NijiError(error.code, detail) from None

    def _settled(self, reply, accept="application/json"):
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

    def _project(self, rest):
        return f"/api/v1/projects/{self.project}{rest}"

    def tables(self):
        """The granted tables: name, release and columns (name, type, description)."""
        _, _, body = self._request("GET", self._project("/tables"))
        return json.loads(body)

    def columns(self):
        """Every granted column as a DataFrame: table, column, type, description."""
        rows = [
            {"table": t["name"], "column": c["name"], "type": c["type"],
             "description": c["description"]}
            for t in self.tables()
            for c in t["columns"]
        ]
        return pl.DataFrame(rows)

    def query(self, sql):
        """An aggregate SQL query, as a DataFrame (suppressed cells null)."""
        status, headers, body = self._settled(
            self._request("POST", self._project("/queries"), {"sql": sql}, accept=ARROW),
            accept=ARROW,
        )
        if status == 202 or not headers.get("Content-Type", "").startswith(ARROW):
            held = json.loads(body)
            raise Held(held.get("airlock"))
        self.last_findings = json.loads(headers.get("X-Niji-Findings", "[]"))
        return pl.read_ipc_stream(io.BytesIO(body))

    def result(self, airlock):
        """A held result, once released."""
        status, _, body = self._request("GET", self._project(f"/results/{airlock}"))
        released = json.loads(body)
        if status == 202:
            raise Held(airlock)
        return pl.DataFrame(released["rows"], schema=released["columns"], orient="row")

    def dp_query(self, table, measures, rho, group_by=(), max_rows_per_person=1):
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
        return frame, noise

    def budget(self):
        """The project's rho: total, spent and left."""
        _, _, body = self._request("GET", self._project("/budget"))
        return json.loads(body)
