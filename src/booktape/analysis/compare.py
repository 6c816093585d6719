"""Two tapes of the same collectors, state by state: does a sink's tape hold what the recorder stored?

Each state (``symbol``, ``collector``, ``seq``) is reduced to its row count
and a 64-bit digest of its level rows (every book column, level by level),
computed columnwise; two states are the same when both agree. The result
names the states only one tape has and those whose content differs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..read.reader import read_arrow

_CONTENT = ["t_before_ns", "t_after_ns", "unchanged", "level", "type", "price", "volume",
            "volume_dbl"]
_SHOW = 5


@dataclass
class StreamComparison:
    symbol: str
    collector: str
    states_a: int
    states_b: int
    same: int
    only_a: int
    only_b: int
    differ: int
    examples: dict[str, list[int]] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return self.only_a == 0 and self.only_b == 0 and self.differ == 0


@dataclass
class TapeComparison:
    a: str
    b: str
    streams: list[StreamComparison]

    @property
    def equal(self) -> bool:
        return bool(self.streams) and all(s.equal for s in self.streams)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "equal": self.equal,
                "streams": [dict(asdict(s), equal=s.equal) for s in self.streams]}


def state_digests(data: str | Path, symbol: str | None = None,
                  collector: str | None = None) -> pd.DataFrame:
    """One row per state: symbol, collector, seq, rows, digest."""
    t = read_arrow(data, symbol, collector, verify=True)
    df = t.to_pandas()
    for c in ("symbol", "collector"):
        df[c] = df[c].astype(str)
    if df.empty:
        return pd.DataFrame(columns=["symbol", "collector", "seq", "rows", "digest"])
    h = pd.util.hash_pandas_object(df[_CONTENT], index=False).to_numpy(np.uint64)
    # Order-sensitive within a state: weight each row's hash by its level.
    w = (df["level"].to_numpy(np.int64) + 2).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    df = df.assign(h=h * w)
    g = df.groupby(["symbol", "collector", "seq"], sort=True)
    out = g["h"].agg(lambda s: np.bitwise_xor.reduce(s.to_numpy(np.uint64)) if len(s) else 0)
    return pd.DataFrame({"rows": g.size(), "digest": out}).reset_index()


def compare_tapes(a: str | Path, b: str | Path, symbol: str | None = None,
                  collector: str | None = None) -> TapeComparison:
    """Compare tape ``a`` with tape ``b`` over the (symbol, collector) pairs either holds."""
    da, db = state_digests(a, symbol, collector), state_digests(b, symbol, collector)
    m = da.merge(db, on=["symbol", "collector", "seq"], how="outer", suffixes=("_a", "_b"),
                 indicator=True)
    streams = []
    for (sym, coll), g in m.groupby(["symbol", "collector"], sort=True):
        both = g[g["_merge"] == "both"]
        diff = both[(both["rows_a"] != both["rows_b"]) | (both["digest_a"] != both["digest_b"])]
        only_a, only_b = g[g["_merge"] == "left_only"], g[g["_merge"] == "right_only"]
        ex = {k: [int(x) for x in v["seq"].head(_SHOW)] for k, v in
              (("only_a", only_a), ("only_b", only_b), ("differ", diff)) if len(v)}
        streams.append(StreamComparison(
            str(sym), str(coll), int((g["_merge"] != "right_only").sum()),
            int((g["_merge"] != "left_only").sum()), len(both) - len(diff), len(only_a),
            len(only_b), len(diff), ex))
    return TapeComparison(str(a), str(b), streams)
