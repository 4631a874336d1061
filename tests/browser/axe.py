"""axe-core (through axe-playwright-python) on a page of a browser journey:
a page with a serious or critical violation fails the journey, naming the
rule and the elements; each page's findings (every impact) are written to
NIJI_SHOTS/axe/<name>.json for the closing figures."""

import json
import os

from axe_playwright_python.sync_playwright import Axe

_AXE = Axe()
BLOCKING = {"serious", "critical"}


def check(page, name):
    """Runs axe-core on `page` as it stands; raises on a blocking violation."""
    results = _AXE.run(page)
    violations = results.response.get("violations", [])
    found = [
        {
            "rule": v["id"],
            "impact": v.get("impact"),
            "help": v.get("help"),
            "nodes": [n.get("target") for n in v.get("nodes", [])][:5],
        }
        for v in violations
    ]
    out = os.path.join(os.environ["NIJI_SHOTS"], "axe")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump({"page": page.url.split("?")[0], "violations": found}, f, ensure_ascii=False, indent=1)
    blocking = [v for v in found if v["impact"] in BLOCKING]
    if blocking:
        raise AssertionError(f"axe-core on {name} ({page.url}): {json.dumps(blocking, ensure_ascii=False)}")
