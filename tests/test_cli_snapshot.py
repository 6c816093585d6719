"""``booktape snapshot`` from a terminal through the bridge, as JSON, with its spread (issue 14)."""

from __future__ import annotations

import json

from .conftest import run_booktape
from .emu_server import emulator


def test_cli_snapshot_over_mt5linux_prints_json_with_best_prices_and_spread() -> None:
    with emulator() as port:
        p = run_booktape("snapshot", "RIU2", "--source", "mt5linux", "--mt5-host", "127.0.0.1",
                         "--mt5-port", str(port), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    sells = [x["price"] for x in d["levels"] if x["side"] == "sell"]
    buys = [x["price"] for x in d["levels"] if x["side"] == "buy"]
    assert sells and buys and d["symbol"] == "RIU2"
    # MT5 lists sells first, prices descending: level 0 is the worst ask, not the best.
    assert d["best_ask"] == min(sells) != d["levels"][0]["price"]
    assert d["best_bid"] == max(buys)
    assert d["spread"] == d["best_ask"] - d["best_bid"] > 0


def test_cli_snapshot_table_shows_the_spread() -> None:
    p = run_booktape("snapshot", "RIU2", check=True)
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith("best bid ") and " · spread " in line


def test_cli_snapshot_mt5_options_need_an_mt5_source() -> None:
    p = run_booktape("snapshot", "RIU2", "--mt5-login", "5")
    assert p.returncode == 2 and p.stderr.startswith("Error: --mt5-login apply only to")
