"""Tests of raml_utils.report (the static HTML report) and of run_all.sh's runner printing the scoreboard.

The report is built from made-up outputs (two executed notebooks with figures, one stale). The browser test
opens it in Debian's headless chromium (installed by .ci/run) and is skipped, saying why, where it is absent.
"""

from __future__ import annotations

import base64
import functools
import html
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from raml_utils import report  # noqa: E402
from raml_utils import scoreboard as sb  # noqa: E402
from raml_utils.params import load_profile  # noqa: E402
from raml_utils.results import SCHEMA_VERSION, params_hash  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
P = load_profile("smoke")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As .ci/run's environment needs them: no sandbox as root, and no background connections on a closed network.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def png_bytes(colour: str) -> bytes:
    """Returns a small real PNG (a filled square)."""
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.add_patch(plt.Rectangle((0, 0), 1, 1, color=colour))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    plt.close(fig)
    return buf.getvalue()


def write_notebook_outputs(profile_dir: Path, name: str, claims: list[dict], figures: dict[str, str],
                           hash_: str | None = None) -> None:
    """Writes what a run of notebook ``name`` leaves: executed copy (with an image output), figures, metrics."""
    folder = profile_dir / name
    folder.mkdir(parents=True)
    image = nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(png_bytes("tab:blue")).decode(), "text/plain": "<Figure>"})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name}\n## A section"),
                                         nbformat.v4.new_code_cell("plot()", outputs=[image])])
    nbformat.write(nb, folder / f"{name}.ipynb")
    for file, colour in figures.items():
        (folder / file).write_bytes(png_bytes(colour))
    (folder / "status.json").write_text(json.dumps({"status": "ok", "wall_s": 3.0, "error": None}))
    (folder / "metrics.json").write_text(json.dumps({
        "schema": SCHEMA_VERSION, "notebook": name, "profile": P.name, "params_hash": hash_ or params_hash(P), "code_commit": "abc1234",
        "claims": claims, "measurements": {}}))


C3 = {"claim": "C3", "metric": "pass_at_k", "arms": ["long", "short"], "effect": -0.15, "lo": -0.27, "hi": -0.03,
      "n_seeds": 3, "n_questions": 96, "direction": 1, "margin": 0.03, "verdict": "not reproduced"}
C6 = {**C3, "claim": "C6", "arms": ["sft_8", "sft_1"], "effect": 0.05, "lo": 0.01, "hi": 0.09, "verdict": "reproduced"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, sb.Scoreboard, Path]:
    """(profile dir, scoreboard, index.html) of a report over 02 (used), 03 (stale) and a 05 never run."""
    root = tmp_path_factory.mktemp("report")
    notebooks_dir = root / "notebooks"
    notebooks_dir.mkdir()
    for name in ("02_trajectory_length", "03_support_set_size", "05_sft_then_rl"):
        (notebooks_dir / f"{name}.ipynb").write_text("{}")
    profile_dir = root / "outputs" / P.name
    write_notebook_outputs(profile_dir, "02_trajectory_length", [C3],
                           {"pass_at_k_by_difficulty.png": "tab:green", "training_loss.png": "tab:red"})
    write_notebook_outputs(profile_dir, "03_support_set_size", [C6], {"metrics_vs_support.png": "tab:purple"},
                           hash_="0123456789abcdef")
    board, index = report.build_report(profile_dir, P, notebooks_dir)
    return profile_dir, board, index


class Links(HTMLParser):
    """Collects the URLs a page refers to (a/href, img/src, link/href, script/src) and its element ids."""

    def __init__(self):
        super().__init__()
        self.urls, self.ids, self.images = [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in {"a": ["href"], "link": ["href"], "img": ["src"], "script": ["src"]}.get(tag, []):
            if attrs.get(key) is not None:
                self.urls.append((tag, attrs[key]))
        if tag == "img":
            self.images.append(attrs.get("src"))


def parse(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


def test_report_has_index_notebook_pages_and_figures(built):
    profile_dir, board, index = built
    out = profile_dir / "report"
    assert index == out / "index.html"
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["02_trajectory_length.html",
                                                                     "03_support_set_size.html"]
    assert (out / "figures" / "02_trajectory_length" / "pass_at_k_by_difficulty.png").read_bytes() == \
        (profile_dir / "02_trajectory_length" / "pass_at_k_by_difficulty.png").read_bytes()
    assert (out / "figures" / "overview.png").stat().st_size > 5000
    # The notebook page embeds the executed notebook's figure itself.
    assert "data:image/png;base64," in (out / "notebooks" / "02_trajectory_length.html").read_text()
    assert not [p.name for p in profile_dir.iterdir() if p.name.startswith(".report")]  # no leftovers


def test_every_link_is_relative_and_resolves_inside_the_report(built):
    profile_dir, _, _ = built
    out = (profile_dir / "report").resolve()
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == 3
    checked = 0
    for page in pages:
        links = parse(page)
        for tag, url in links.urls:
            if url.startswith("data:"):
                continue
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc and not url.startswith("/"), (page.name, tag, url)
            if parts.path:
                target = (page.parent / unquote(parts.path)).resolve()
                assert target.is_relative_to(out) and target.is_file(), (page.name, url)
            if parts.fragment and not parts.path:
                assert parts.fragment in links.ids, (page.name, url)
            checked += 1
    assert checked > 10


def test_pages_load_nothing_from_the_network(built):
    profile_dir, _, _ = built
    for page in (profile_dir / "report").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=\"(https?:)?//", text), page.name


def test_index_shows_the_scoreboard_and_says_what_is_stale(built):
    profile_dir, board, index = built
    text = index.read_text(encoding="utf-8")
    for r in board.rows:
        assert f"<b>{html.escape(r.claim)}</b>" in text
    assert "long − short pass_at_k = -0.150 [-0.270, -0.030]" in text
    assert '<img src="figures/02_trajectory_length/pass_at_k_by_difficulty.png"' in text
    # 03's numbers were made under other params: marked stale, its reproduced C6 not shown as such.
    c6 = next(r for r in board.rows if r.claim == "C6")
    assert c6.verdict == sb.STALE and "0123456789abcdef" in text
    assert "+0.050 [+0.010, +0.090]" not in text
    assert "05_sft_then_rl" in text and "smoke" in text and "mean nothing" in text


def test_rebuilding_replaces_the_report(built):
    profile_dir, _, index = built
    (profile_dir / "report" / "stray.txt").write_text("from an older report")
    board, again = report.build_report(profile_dir, P, profile_dir.parent.parent / "notebooks")
    assert again == index and not (profile_dir / "report" / "stray.txt").exists()
    assert not [p.name for p in profile_dir.iterdir() if p.name.startswith(".report")]


# --- in a real browser -----------------------------------------------------------------------------------

# Opened from the same loopback server as the report, so it may read the report's DOM and fetch its links.
HARNESS = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="index.html" style="width:1200px;height:800px"></iframe>
<script>
document.getElementById("page").addEventListener("load", async () => {
  const win = document.getElementById("page").contentWindow, doc = win.document;
  await Promise.all([...doc.images].map(img => img.complete ? null
                                               : new Promise(done => { img.onload = img.onerror = done; })));
  const images = [...doc.images].map(img => ({src: img.getAttribute("src"), width: img.naturalWidth}));
  const links = [];
  for (const a of doc.querySelectorAll("a[href]")) {
    const href = a.getAttribute("href");
    if (href.startsWith("#")) { links.push({href, ok: !!doc.getElementById(href.slice(1))}); continue; }
    try { const r = await fetch(new URL(href, win.location.href)); links.push({href, status: r.status, ok: r.ok}); }
    catch (e) { links.push({href, ok: false, error: String(e)}); }
  }
  document.getElementById("result").textContent = JSON.stringify({title: doc.title, images, links});
});
</script></body></html>"""


class ReportHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the report folder, plus the checking page at /__check__.html."""

    def do_GET(self):
        if self.path.split("?")[0] != "/__check__.html":
            return super().do_GET()
        body = HARNESS.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def browser_check(folder: Path) -> dict:
    """Returns what headless chromium saw on the report's index page: title, images (natural width), links."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(ReportHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as user_dir:
            result = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={user_dir}",
                                     "--virtual-time-budget=30000", "--dump-dom",
                                     f"http://127.0.0.1:{server.server_address[1]}/__check__.html"],
                                    capture_output=True, text=True, timeout=180)
    finally:
        server.shutdown()
        server.server_close()
    found = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.S)
    assert found and found.group(1) != "pending", result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH: Debian's `chromium` package is what .ci/run installs for this test")


@needs_chromium
def test_index_in_headless_chromium_every_link_resolves_and_every_image_loads(built):
    profile_dir, board, _ = built
    seen = browser_check(profile_dir / "report")
    assert seen["title"] == f"RaML study: claims scoreboard ({P.name})"
    expected = {"figures/overview.png", "figures/02_trajectory_length/pass_at_k_by_difficulty.png"}
    assert {img["src"] for img in seen["images"]} == expected
    assert all(img["width"] > 0 for img in seen["images"]), seen["images"]
    assert seen["links"] and all(link["ok"] for link in seen["links"]), [x for x in seen["links"] if not x["ok"]]
    assert {"notebooks/02_trajectory_length.html", "#fig-c3"} <= {link["href"] for link in seen["links"]}


@needs_chromium
def test_browser_check_catches_a_broken_image_and_a_dead_link(built, tmp_path):
    profile_dir, _, _ = built
    broken = tmp_path / "report"
    shutil.copytree(profile_dir / "report", broken)
    (broken / "figures" / "02_trajectory_length" / "pass_at_k_by_difficulty.png").unlink()
    (broken / "notebooks" / "02_trajectory_length.html").unlink()
    seen = browser_check(broken)
    assert [img["src"] for img in seen["images"] if img["width"] == 0] == [
        "figures/02_trajectory_length/pass_at_k_by_difficulty.png"]
    # The notebooks table links every figure file too, so the deleted figure is also a dead link.
    assert {link["href"] for link in seen["links"] if not link["ok"]} == {
        "notebooks/02_trajectory_length.html", "figures/02_trajectory_length/pass_at_k_by_difficulty.png"}


@needs_chromium
def test_screenshot_of_the_index_opened_from_disk(built):
    profile_dir, _, index = built
    shot = profile_dir / "index_screenshot.png"
    with tempfile.TemporaryDirectory() as user_dir:
        subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={user_dir}", "--window-size=1280,1600",
                        f"--screenshot={shot}", index.as_uri()], capture_output=True, timeout=180, check=True)
    pixels = plt.imread(shot)
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels[..., :3].std() > 0.05  # a rendered page, not a blank one
    if os.environ.get("RAML_SCREENSHOT_DIR"):  # to look at it: RAML_SCREENSHOT_DIR=/some/dir pytest ...
        shutil.copy(shot, Path(os.environ["RAML_SCREENSHOT_DIR"]) / "report_index.png")


# --- run_all.sh's runner ends with the scoreboard and the report ------------------------------------------

WRITE_METRICS = """\
import numpy as np
from raml_utils.params import load_profile
from raml_utils.results import output_dir, pre_registered, write_metrics
P = load_profile(profile)
rng = np.random.default_rng(0)
long, short = rng.random((2, 8)) * 0.1 + 0.5, rng.random((2, 8)) * 0.1
write_metrics(output_dir(P, "02_trajectory_length"), "02_trajectory_length", P, [pre_registered("C3", long, short)], {})
"""


def test_runner_prints_the_scoreboard_and_writes_the_report(tmp_path):
    (tmp_path / "notebooks").mkdir()
    params = nbformat.v4.new_code_cell('profile = "cpu"', metadata={"tags": ["parameters"]})
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(WRITE_METRICS)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "02_trajectory_length.ipynb")
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "study.yaml").write_text("inherit: smoke\n")
    result = subprocess.run([sys.executable, "-m", "raml_utils.runner", "--notebooks-dir", str(tmp_path / "notebooks"),
                             "--params-dir", str(tmp_path / "params"), "--outputs-dir", str(tmp_path / "outputs"),
                             "--profile", "study"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout.split("claims scoreboard, profile study")[1]
    assert re.search(r"^C3 +reproduced +2 +long − short pass_at_k = \+", table, re.M), table
    assert re.search(r"^C4 +not run +– +\(05: notebook 05 is not written yet\)", table, re.M), table
    index = tmp_path / "outputs" / "study" / "report" / "index.html"
    assert f"report: {index}" in result.stdout
    assert (index.parent / "notebooks" / "02_trajectory_length.html").is_file()
