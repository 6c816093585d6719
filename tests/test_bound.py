"""The guaranteed lifetime and blind spots ``analyze`` and ``record`` report (issue 13)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import booktape
from booktape.cli import cli as cli_group
from booktape.read.guarantee import guarantee, threshold_ns

from .test_truth import rewrite_parts


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli_group, list(args), catch_exceptions=False)


def test_guarantee_separates_blind_spots_from_the_bound():
    rng = np.random.default_rng(1)
    blind = rng.integers(40_000, 120_000, 10_000)  # 40..120 us
    blind[[100, 5000]] = [30_000_000, 2_000_000]  # a 30 ms and a 2 ms blind spot
    ta = np.cumsum(np.full(blind.size, 200_000)) + 10**18
    tb = ta - 20_000
    thr = threshold_ns(blind)
    assert thr == 1_000_000  # 10 x the ~80 us median is under --blind-min
    g = guarantee(blind, tb, ta, thr)
    assert g.known and g.spot_count == 2 and g.spot_total_ns == 32_000_000
    assert g.spot_worst_ns == 30_000_000 and g.lifetime_max_ns < 120_000
    assert [(p.since_ns, p.until_ns) for p in g.spots] == [(tb[99], ta[100]), (tb[4999], ta[5000])]
    assert g.lifetime_p999_ns == pytest.approx(np.percentile(np.delete(blind, [100, 5000]), 99.9))
    assert threshold_ns(blind * 100) == int(10 * np.median(blind * 100))
    blind[7] = -1  # a state without blind_ns: the bound is unknown, not guessed
    u = guarantee(blind, tb, ta, thr)
    assert not u.known and u.lifetime_p999_ns is None and u.spot_count == 0


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bound") / "data"
    booktape.record(d, ["RIU2", "SiU2"], duration="1.5s", topology="sequential",
                    source_options={"rate": 2000, "latency_ns": 20_000})
    return d


def test_analyze_reports_the_bound_per_session_hour_and_bin(tape, tmp_path):
    r = invoke("analyze", str(tape), "--json", "--by", "500ms")
    d = json.loads(r.output)
    assert len(d["bounds"]) == 2
    for b in d["bounds"]:
        g = b["overall"]
        assert g["known"] and g["lifetime_p999_ns"] > 0 and g["lifetime_max_ns"] >= g["lifetime_p999_ns"]
        assert len(b["sessions"]) == 1 and len(b["hours"]) >= 1 and len(b["bins"]) >= 3
        assert sum(x["states"] for x in b["bins"]) == g["states"]
        assert sum(x["spot_count"] for x in b["bins"]) == g["spot_count"]
        # the session's trailing bound is a state of the stream too
        assert g["states"] == next(s for s in d["streams"] if s["symbol"] == b["symbol"])["states"] + 1
    page = tmp_path / "r.html"
    r = invoke("analyze", str(tape), "--html", str(page), "--blind-min", "100us")
    assert "Guaranteed lifetime" in r.output
    html = page.read_text()
    assert "RIU2_zero_blind.png" in html and "Blind spots" in html
    r = invoke("analyze", str(tape), "--by", "soon")
    assert r.exit_code == 2 and "--by" in r.output


def test_analyze_says_unknown_for_a_tape_without_blind_ns(tape, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tape, old)
    rewrite_parts(old, lambda t: t.drop_columns(["blind_ns"]))
    d = json.loads(invoke("analyze", str(old), "--json").output)
    assert d["ok"] and all(not b["overall"]["known"] for b in d["bounds"])
    assert all(b["overall"]["lifetime_max_ns"] is None for b in d["bounds"])
    r = invoke("analyze", str(old))
    assert "unknown" in r.output


def test_record_summary_gives_the_guaranteed_lifetime(tmp_path):
    s = booktape.record(tmp_path / "d", "RIU2", duration="0.5s", topology="sequential")
    (y,) = s.symbols
    assert y.guaranteed_ns is not None and 0 < y.guaranteed_ns <= (y.guaranteed_max_ns or 0)
