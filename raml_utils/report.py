"""The study report: a static HTML folder ``outputs/<profile>/report/`` that opens from disk or can be published.

- ``index.html``: the claims scoreboard, an overview figure of every primary contrast, the key figure of
  each claim, every contrast (controls included) and the state of every notebook;
- ``notebooks/<NN_name>.html``: each executed notebook converted by nbconvert (its figures embedded);
- ``figures/<NN_name>/*.png``: every notebook's figures, copied.

Every link is relative and points inside the folder, and no page loads anything from the network. The
folder is built next to the old one and swapped in at the end, so a reader never sees a half-written report.
"""

from __future__ import annotations

import functools
import html
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from . import plots
from . import scoreboard as sb
from .params import Profile

REPORT_DIRNAME = "report"

# nbconvert's "lab" template loads require.js, MathJax and mermaid from a CDN. The notebooks use no LaTeX
# math, widgets or diagrams, and the report must open offline, so this template drops those three scripts.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

CSS = """
body { font-family: system-ui, -apple-system, "DejaVu Sans", sans-serif; margin: 2rem auto; max-width: 80rem;
       padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; }
.meta { color: #57606a; font-size: 0.9rem; }
.banner { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.6rem 0.9rem; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.35rem 0.5rem; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
.paper, .note { color: #57606a; font-size: 0.82rem; display: block; margin-top: 0.2rem; }
.verdict { color: #fff; border-radius: 1rem; padding: 0.1rem 0.55rem; white-space: nowrap; font-weight: 600; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
figcaption { color: #57606a; font-size: 0.9rem; }
dt { font-weight: 600; } dd { margin: 0 0 0.4rem 1.2rem; }
"""


@functools.cache
def _exporter():
    """Returns the HTML exporter (built once: loading its templates takes about a second)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
                        template_file="offline.html.j2")


def convert_notebook(ipynb: Path, target: Path) -> None:
    """Writes ``ipynb`` as a self-contained HTML page (figures embedded, no network loads) to ``target``."""
    import nbformat

    body, _ = _exporter().from_notebook_node(nbformat.read(ipynb, as_version=4))
    target.write_text(body, encoding="utf-8")


def _e(text) -> str:
    return html.escape(str(text))


def _badge(verdict: str) -> str:
    return f'<span class="verdict" style="background:{sb.VERDICT_COLOURS[verdict]}">{_e(verdict)}</span>'


def _anchor(claim: str) -> str:
    return "fig-" + claim.lower().replace(" ", "").replace(".", "")


def _notebook_link(name: str, pages: set[str]) -> str:
    if name in pages:
        return f'<a href="notebooks/{_e(name)}.html">{_e(name)}</a>'
    return _e(name) + (" (not written)" if len(name) == 2 else "")


def scoreboard_table(board: sb.Scoreboard, pages: set[str]) -> str:
    """Returns the scoreboard as an HTML table; notebooks link to their pages, figures to the figures section."""
    rows = []
    for r in board.rows:
        where = ", ".join(_notebook_link(n, pages) for n in r.notebooks)
        if r.figure:
            where += f'<br><a href="#{_anchor(r.claim)}">figure</a>'
        note = f'<span class="note">{_e(r.note)}</span>' if r.note else ""
        rows.append(f"<tr id=\"{_e(r.claim.replace(' ', ''))}\"><td><b>{_e(r.claim)}</b></td>"
                    f"<td>{_e(r.statement)}<span class=\"paper\">paper: {_e(r.paper)}</span></td>"
                    f"<td>{_e(r.measurement or '–')}{note}</td><td>{_e(r.seeds)}</td><td>{_badge(r.verdict)}</td>"
                    f"<td>{where}</td></tr>")
    head = ("<tr><th>claim</th><th>the paper's statement and number</th><th>our measurement: a − b, "
            "95% CI</th><th>seeds</th><th>verdict</th><th>notebook</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def contrasts_table(board: sb.Scoreboard) -> str:
    """Returns every usable claim entry (primary, controls, other metrics) as an HTML table."""
    rows = [f"<tr><td>{_e(c.claim)}</td><td>{'primary' if c.primary else 'control / other metric'}</td>"
            f"<td>{_e(c.arms[0])} − {_e(c.arms[1])}{' (' + _e(c.label) + ')' if c.label else ''}</td><td>{_e(c.metric)}</td><td>{c.effect:+.4f}</td>"
            f"<td>[{c.lo:+.4f}, {c.hi:+.4f}]</td><td>{_e(c.n_seeds)}</td><td>{_e(c.n_questions)}</td>"
            f"<td>{_badge(c.verdict)}</td><td>{_e(c.notebook)}</td></tr>"
            for r in board.rows for c in r.contrasts]
    if not rows:
        return "<p>No notebook has reported a usable contrast yet.</p>"
    head = ("<tr><th>claim</th><th>role</th><th>a − b</th><th>metric</th><th>effect</th><th>95% CI</th>"
            "<th>seeds</th><th>questions</th><th>verdict</th><th>notebook</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def notebooks_table(board: sb.Scoreboard, pages: set[str]) -> str:
    """Returns the state of every notebook (used, stale, failed, not run) with its page and figures."""
    rows = []
    for rec in board.notebooks:
        figures = " ".join(f'<a href="figures/{_e(rec.name)}/{_e(f)}">{_e(f)}</a>' for f in rec.figures)
        wall = f"{rec.wall_s:.0f} s" if rec.wall_s is not None else "–"
        state = "used" if rec.usable else rec.state
        rows.append(f"<tr><td>{_notebook_link(rec.name, pages)}</td><td>{_e(state)}</td><td>{_e(rec.reason)}</td>"
                    f"<td>{wall}</td><td>{figures or '–'}</td></tr>")
    head = "<tr><th>notebook</th><th>state</th><th>why</th><th>wall time</th><th>figures</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def index_html(board: sb.Scoreboard, pages: set[str], overview: str | None) -> str:
    """Returns the report's front page (all links relative to the report folder)."""
    commits = ", ".join(board.code_commits) or "–"
    note = sb.CHECK_PROFILES.get(board.profile)
    banner = f'<p class="banner">{_e(note[0].upper() + note[1:])}.</p>' if note else ""
    figures = []
    if overview:
        figures.append(f'<figure id="fig-overview"><img src="{_e(overview)}" alt="primary contrasts of every claim">'
                       "<figcaption>Every primary contrast with its 95% CI, in its metric's units; grey: the "
                       "pre-registered margin ±δ.</figcaption></figure>")
    for r in board.rows:
        if r.figure:
            figures.append(f'<figure id="{_anchor(r.claim)}"><img src="figures/{_e(r.figure)}" '
                           f'alt="{_e(r.claim)}: {_e(r.figure)}"><figcaption><b>{_e(r.claim)}</b> ({_e(r.verdict)}): '
                           f"{_e(r.statement)}. From {_notebook_link(r.figure.split('/')[0], pages)}."
                           "</figcaption></figure>")
    legend = "".join(f"<dt>{_badge(v)}</dt><dd>{_e(t)}.</dd>" for v, t in sb.VERDICT_HELP.items())
    generated = datetime.now().astimezone().isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>RaML study: claims scoreboard ({_e(board.profile)})</title><style>{CSS}</style></head>
<body>
<h1>RaML study: claims scoreboard</h1>
<p class="meta">Profile <b>{_e(board.profile)}</b> · params hash {_e(board.params_hash)} · code {_e(commits)} ·
generated {_e(generated)}</p>
{banner}
<p>Each claim of <i>Deciphering Trajectory-Aided LLM Reasoning: An Optimization Perspective</i> (Liu et al., 2025,
arXiv 2505.19815) against this study's measurement. A verdict applies the rule frozen in
<code>params/claims.yaml</code> to the primary contrast's paired difference a − b (bootstrap over seeds ×
questions); a notebook that has not run, failed, or ran under other params never counts as a pass.</p>
<h2 id="scoreboard">Scoreboard</h2>
{scoreboard_table(board, pages)}
<h3>How to read a verdict</h3><dl>{legend}</dl>
<h2 id="figures">Key figures</h2>
{''.join(figures) or '<p>No figure yet.</p>'}
<h2 id="contrasts">Every contrast</h2>
{contrasts_table(board)}
<h2 id="notebooks">Notebooks</h2>
{notebooks_table(board, pages)}
</body></html>
"""


def build_report(profile_dir: Path, profile: Profile, notebooks_dir: Path = sb.NOTEBOOKS_DIR) -> tuple[sb.Scoreboard, Path]:
    """Writes ``profile_dir/report/`` and returns (the scoreboard, the path of its index.html)."""
    profile_dir = Path(profile_dir)
    board = sb.collect(profile_dir, profile, notebooks_dir)
    final = profile_dir / REPORT_DIRNAME
    tmp = Path(tempfile.mkdtemp(prefix=f".{REPORT_DIRNAME}.tmp-", dir=profile_dir))
    try:
        (tmp / "notebooks").mkdir()
        (tmp / "figures").mkdir()
        pages = set()
        for rec in board.notebooks:
            if rec.executed:
                convert_notebook(profile_dir / rec.name / f"{rec.name}.ipynb", tmp / "notebooks" / f"{rec.name}.html")
                pages.add(rec.name)
            if rec.figures:
                (tmp / "figures" / rec.name).mkdir(parents=True)
                for f in rec.figures:
                    shutil.copy2(profile_dir / rec.name / f, tmp / "figures" / rec.name / f)
        fig = plots.claim_intervals(sb.interval_records(board), sb.VERDICT_COLOURS)
        plots.save(fig, tmp / "figures", "overview")
        plots.plt.close(fig)
        (tmp / "index.html").write_text(index_html(board, pages, "figures/overview.png"), encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; a published folder must be readable
        old = None
        if final.exists():
            old = profile_dir / f".{REPORT_DIRNAME}.old-{tmp.name.rsplit('-', 1)[-1]}"
            final.rename(old)
        tmp.rename(final)
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return board, final / "index.html"
