"""booktape's readers side by side with DuckDB and Polars on the same tape (issue 14).

Two queries, each engine in a fresh child process (so peak memory is its own):

- **quotes**: best bid and ask (with their volumes) and the poll midpoint of
  every state — ``booktape.quotes`` vs the same aggregation in DuckDB SQL and
  Polars, each returning a data frame;
- **levels**: every level row into memory — ``booktape.read_arrow`` (with the
  derived ``side``/``depth``/UTC time columns and checksum verification) vs
  DuckDB's ``SELECT *`` into Arrow; and ``booktape.read`` into pandas.

``--old`` adds the issue's baseline: ``booktape.read`` into pandas, then the
best bid/ask per state with a pandas ``groupby``.

    .venv/bin/python benchmarks/make_day.py /tmp/day1m --snapshots 1000000
    nice .venv/bin/python benchmarks/bench_read.py /tmp/day1m --old
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

QUOTES_SQL = """
select seq, any_value(t_before_ns + (t_after_ns - t_before_ns) // 2) as t_mid,
       max(price) filter (where type = 2) as bid,
       arg_max(volume_dbl, price) filter (where type = 2) as bid_volume,
       min(price) filter (where type = 1) as ask,
       arg_min(volume_dbl, price) filter (where type = 1) as ask_volume
from read_parquet('{glob}', hive_partitioning = true)
group by seq order by seq
"""


def _glob(tape: str) -> str:
    return f"{tape}/symbol=*/date=*/collector=*/part-*.parquet"


def run_case(case: str, tape: str) -> dict[str, Any]:
    """Run one case in this process; returns seconds, rows and bytes returned."""
    import psutil

    if case.startswith("duckdb"):
        import duckdb
    elif case.startswith("polars"):
        import polars as pl
    else:
        import booktape
    base = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    if case == "duckdb_quotes":
        out = duckdb.sql(QUOTES_SQL.format(glob=_glob(tape))).df()
        rows, nbytes = len(out), int(out.memory_usage(index=False).sum())
    elif case == "polars_quotes":
        p = pl.col("price")
        ask, bid = pl.col("type") == 1, pl.col("type") == 2
        q = (pl.scan_parquet(_glob(tape), hive_partitioning=True).group_by("seq").agg(
            (pl.col("t_before_ns").first() + (pl.col("t_after_ns").first()
                                              - pl.col("t_before_ns").first()) // 2).alias("t_mid"),
            p.filter(bid).max().alias("bid"),
            pl.col("volume_dbl").filter(bid).sort_by(p.filter(bid)).last().alias("bid_volume"),
            p.filter(ask).min().alias("ask"),
            pl.col("volume_dbl").filter(ask).sort_by(p.filter(ask)).first().alias("ask_volume"),
        ).sort("seq"))
        df = q.collect()
        rows, nbytes = df.height, int(df.estimated_size())
    elif case == "booktape_quotes":
        out = booktape.quotes(tape)
        rows, nbytes = len(out), int(out.memory_usage(index=False).sum())
    elif case == "duckdb_levels":
        t = duckdb.sql(f"select * from read_parquet('{_glob(tape)}', hive_partitioning = true)"
                       ).to_arrow_table()
        rows, nbytes = t.num_rows, t.nbytes
    elif case == "booktape_read_arrow":
        t = booktape.read_arrow(tape)
        rows, nbytes = t.num_rows, t.nbytes
    elif case == "booktape_read_pandas":
        out = booktape.read(tape)
        rows, nbytes = len(out), int(out.memory_usage(index=False).sum())
    elif case == "old_read_then_groupby":
        df = booktape.read(tape)
        asks = df[df.type == 1].groupby("seq").price.min()
        bids = df[df.type == 2].groupby("seq").price.max()
        out = bids.to_frame("bid").join(asks.rename("ask"), how="outer")
        rows, nbytes = len(out), int(out.memory_usage(index=False).sum())
    else:
        raise SystemExit(f"unknown case {case}")
    secs = time.perf_counter() - t0
    peak = psutil.Process().memory_info().rss
    import resource

    peak = max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"case": case, "seconds": secs, "rows": rows, "bytes": nbytes,
            "peak_extra": peak - base}


def child(case: str, tape: str) -> dict[str, Any]:
    p = subprocess.run([sys.executable, __file__, tape, "--child", case], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise SystemExit(f"{case} failed:\n{p.stderr}")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("tape")
    ap.add_argument("--old", action="store_true", help="also the read-into-pandas-then-groupby baseline")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_case(a.child, a.tape)))
        return
    cases = ["duckdb_quotes", "polars_quotes", "booktape_quotes", "duckdb_levels",
             "booktape_read_arrow", "booktape_read_pandas"]
    if a.old:
        cases.append("old_read_then_groupby")
    res = {c: child(c, a.tape) for c in cases}
    print(f"{'case':<24}{'seconds':>9}{'rows':>14}{'returned':>12}{'peak extra':>12}"
          f"{'peak/returned':>15}")
    for r in res.values():
        print(f"{r['case']:<24}{r['seconds']:>9.2f}{r['rows']:>14,}{gib(r['bytes']):>12}"
              f"{gib(r['peak_extra']):>12}{r['peak_extra'] / max(r['bytes'], 1):>14.2f}x")
    q, lv = res["booktape_quotes"], res["booktape_read_arrow"]
    print(f"\nquotes: booktape / duckdb = {q['seconds'] / res['duckdb_quotes']['seconds']:.2f}x, "
          f"booktape / polars = {q['seconds'] / res['polars_quotes']['seconds']:.2f}x time")
    print(f"levels: read_arrow / duckdb = {lv['seconds'] / res['duckdb_levels']['seconds']:.2f}x "
          f"time, peak {lv['peak_extra'] / lv['bytes']:.2f}x the Arrow data it returns")
    if a.old:
        o = res["old_read_then_groupby"]
        print(f"old read+groupby: {o['seconds']:.1f} s, peak {gib(o['peak_extra'])}; "
              f"booktape.quotes is {o['seconds'] / q['seconds']:.1f}x faster")


if __name__ == "__main__":
    main()
