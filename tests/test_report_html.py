"""The analysis HTML page in a real headless Chromium: it loads cleanly, tables and images show."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from booktape.analysis import report
from booktape.analysis.heatmap import heatmap, heatmap_html
from booktape.analysis.report_html import report_html

from .analysis_tapes import clean_tape, middle_seq, remove_seq
from .helpers import under_wine

# Injected only into the copy the browser opens: records every error (script or a
# resource that failed to load) and, once loaded, what the page shows.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || 'error')), true);
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const out = {errors: window.__errors, title: document.title,
    tables: [...document.querySelectorAll('table')].map(t => [t.id, t.rows.length, t.getBoundingClientRect().height]),
    imgs: imgs.map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]),
    scroll: [...document.querySelectorAll('div.scroll')].map(d => [d.scrollWidth, d.clientWidth, getComputedStyle(d).overflowX]),
    page_width: document.documentElement.scrollWidth,
    plotly: (document.getElementById('heatmap-chart') || {}).data ?
      document.getElementById('heatmap-chart').data.map(d => d.type + ':' + (d.name || '')) : null,
    verdict: (document.getElementById('verdict') || {}).textContent};
  const pre = document.createElement('pre'); pre.id = '__probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""



def chromium() -> str:
    if under_wine():
        # Debian's chromium is a Linux program: Windows Python under Wine cannot drive it
        # (CreateProcess of an ELF binary returns no usable process handle).
        pytest.skip("the Linux chromium cannot be driven from Windows Python under Wine")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed (`apt-get install -y chromium`; .ci/run does it)")
    return exe


def load_in_browser(page: str, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
           "--window-size=1400,900", "--dump-dom", probed.as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    m = re.search(r'<pre id="__probe">(.*?)</pre>', p.stdout, re.S)
    assert m, f"page did not finish loading:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    import html

    return json.loads(html.unescape(m.group(1)))  # type: ignore[no-any-return]


def test_report_html_loads_in_chromium_with_tables_and_images(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    remove_seq(tape, middle_seq(tape))  # so the problem and seq tables have rows
    page = report_html(report(tape))
    assert "http://" not in page and "https://" not in page and "<script" not in page
    got = load_in_browser(page, tmp_path)
    assert got["errors"] == []
    assert "FAILED" in got["verdict"]
    tables = {t[0]: t for t in got["tables"]}
    for key in ("problems", "summary", "latency", "seq", "parts"):
        tid, rows, height = tables[f"table-{key}"]
        assert rows >= 2 and height > 0, (key, tables[f"table-{key}"])
    assert len(got["imgs"]) == 3  # latency, timeline, blind_ns over time
    for alt, complete, w, h, shown in got["imgs"]:
        assert complete and w > 300 and h > 100 and shown > 0, alt
    # Wide tables scroll in their own box; the page itself never gets wider than the window.
    assert got["scroll"] and all(o == "auto" and cw <= 1400 for _, cw, o in got["scroll"])
    assert got["page_width"] <= 1400


def test_report_html_shows_human_units_and_percentages(tmp_path: Path) -> None:
    import pandas as pd

    tape = clean_tape(tmp_path / "data")
    rep = report(tape)
    page = report_html(rep, pngs={})
    lat = re.search(r'<table id="table-latency">(.*?)</table>', page, re.S).group(1)
    p50 = rep.streams[0].poll_duration["p50"]
    from booktape.units import human_ns

    assert human_ns(p50) in lat and f"{p50:,.0f}<" not in lat
    assert re.search(r"<td>\d+(\.\d+)? (ns|µs|ms|s)</td>", lat)
    summ = re.search(r'<table id="table-summary">(.*?)</table>', page, re.S).group(1)
    assert f"{rep.streams[0].change_rate:.2%}" in summ and "<th>change rate</th>" in summ
    assert "<th>span</th>" in summ and "span_s" not in summ
    assert isinstance(rep.tables()["summary"], pd.DataFrame)


def test_heatmap_html_loads_in_chromium(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    page = heatmap_html(heatmap(tape, "RIU2"), tz="Europe/Moscow")
    assert "http://" not in page.split("<script")[0] and "src=\"http" not in page
    got = load_in_browser(page, tmp_path)
    assert got["errors"] == [] and len(got["imgs"]) == 1
    (alt, complete, w, h, shown), = got["imgs"]
    assert complete and w > 500 and h > 300
    # The zoomable chart (plotly, inlined: no network) drew the map and both best-price lines.
    assert got["plotly"] == ["heatmap:", "scatter:best ask", "scatter:best bid"]
