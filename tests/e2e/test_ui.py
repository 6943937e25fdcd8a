"""`make ui` serves the Dagster UI on the local stack, and its asset graph renders in a real browser.

Headless Chromium (Debian's `chromium`, which `.ci/run` installs) is driven over the DevTools
protocol: open the global lineage page and the ml group's lineage, wait until the asset nodes are
in the DOM, dismiss the first-visit dialog, and save screenshots under test-output/. Skips only
where Chromium is absent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from core.settings import project_dir
from tests.conftest import stop_process_group
from tests.e2e.browser import CHROMIUM, OUTPUT, Browser, chromium_page, free_port

XDIST_WEIGHT = 60  # seconds on 2 cores: conftest starts heavy files first
LOCATION = "orchestration.definitions"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def ui():
    """`make ui` with its own TERRAMINER_HOME and port; yields the base URL once the code location loaded."""
    home = Path(tempfile.mkdtemp(prefix="tmu-", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "TERRAMINER_HOME": str(home), "DAGSTER_PORT": str(port), "TERRAMINER_ENV": "local"}
    for key in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "DAGSTER_HOME", "MLFLOW_TRACKING_URI"):
        env.pop(key, None)
    log = open(home / "ui.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(["make", "--no-print-directory", "ui"], cwd=project_dir(), env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        status = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (home / "ui.log").read_text()[-3000:]
            try:
                data = _graphql(base, "{ workspaceOrError { ... on Workspace { locationEntries "
                                      "{ name loadStatus locationOrLoadError { __typename } } } } }")
                entries = data["data"]["workspaceOrError"]["locationEntries"]
                status = [(e["name"], e["loadStatus"], e["locationOrLoadError"]["__typename"]) for e in entries]
                if status and all(s[1] == "LOADED" for s in status):
                    break
            except (OSError, KeyError, TypeError, ValueError):
                pass
            time.sleep(2)
        assert status == [(LOCATION, "LOADED", "RepositoryLocation")], (status, (home / "ui.log").read_text()[-3000:])
        yield base
    finally:
        stop_process_group(proc)  # make, dagster dev, webserver, daemon, code server
        log.close()
        subprocess.run([str(project_dir() / ".venv" / "bin" / "terraminer"), "down"], env=env,
                       capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


DISMISS = ("(() => { const b = [...document.querySelectorAll('button')].find(x => x.innerText.trim() === 'Skip');"
           " if (b) { b.click(); return true; } return false; })()")


def _texts_present(names: list[str]) -> str:
    return "(() => { const t = document.body ? document.body.innerText : ''; return " + " && ".join(
        f"t.includes({json.dumps(n)})" for n in names) + "; })()"


async def _visit(browser: Browser, url: str, names: list[str], shot: Path) -> dict:
    await browser.call("Page.navigate", url=url)
    rendered = await browser.wait_for(_texts_present(names))
    await browser.wait_for(DISMISS, timeout=10)
    await asyncio.sleep(2)
    data = (await browser.call("Page.captureScreenshot", format="png"))["data"]
    shot.write_bytes(base64.b64decode(data))
    text = await browser.evaluate("document.body.innerText")
    return {"rendered": rendered, "text": text or ""}


def _browse(pages: list[tuple[str, list[str], Path]]) -> list[dict]:
    import websockets

    with chromium_page("--window-size=1600,1000") as ws_url:
        async def run():
            async with websockets.connect(ws_url, max_size=64 * 1024 * 1024) as ws:
                browser = Browser(ws)
                await browser.call("Page.enable")
                await browser.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000,
                                   deviceScaleFactor=1, mobile=False)
                return [await _visit(browser, url, names, shot) for url, names, shot in pages]

        return asyncio.run(run())


def test_asset_graph_renders_in_chromium(ui):
    OUTPUT.mkdir(exist_ok=True)
    groups = ["ingestion", "staging", "intermediate", "marts", "features", "ml"]
    ml_assets = ["avm_model", "property_valuations", "feat_avm_sales"]
    overview, ml = _browse([
        (f"{ui}/asset-groups", groups, OUTPUT / "dagster_asset_graph.png"),
        (f"{ui}/locations/{LOCATION}/asset-groups/ml/lineage", ml_assets, OUTPUT / "dagster_ml_lineage.png"),
    ])
    assert overview["rendered"], overview["text"][:2000]
    assert ml["rendered"], ml["text"][:2000]
    assert "Join the Dagster community" not in ml["text"]  # the first-visit dialog was dismissed
    for shot in ("dagster_asset_graph.png", "dagster_ml_lineage.png"):
        image = (OUTPUT / shot).read_bytes()
        assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 20_000, shot
