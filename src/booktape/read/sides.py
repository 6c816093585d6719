"""Derived ``side`` and ``depth`` of each level row (issue 14).

MT5's ``market_book_get`` lists sells then buys, each by price *descending*,
so row 0 is the worst ask and the best ask is the last sell. Readers add:

- ``side``: ``ask`` (type 1), ``bid`` (2), ``ask_market`` (3), ``bid_market`` (4);
  null on an empty book's marker row (type 0, ``level = -1``).
- ``depth``: 0 for the best price of its side, 1 the next, ...; -1 on a marker row.

Both come from ``seq``, ``type`` and ``price`` only, so tapes written before
this existed read the same. Computed columnwise: one pass over runs of equal
``(seq, type)`` when the rows are in MT5's order (the fast path, always true
for our sources); otherwise one sort by price, so any order gives the same
answer.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

#: Dictionary of the ``side`` column; index = MT5 ``BOOK_TYPE_*`` - 1.
SIDES = ("ask", "bid", "ask_market", "bid_market")
SIDE_TYPE = pa.dictionary(pa.int8(), pa.string())
_SIDE_DICT = pa.array(SIDES, pa.string())

I32 = npt.NDArray[np.int32]
# A canonical order of types within a snapshot for the fast path's check:
# MT5 lists sells before buys; market orders (3, 4), rare, go anywhere else.
_TYPE_RANK = np.array([0, 1, 4, 2, 3, 5, 5, 5], dtype=np.int8)


def _depth_in_runs(same: npt.NDArray[np.bool_], asks: npt.NDArray[np.bool_]) -> I32:
    """Depth from row order; ``same[i]``: row i+1 continues row i's run. Asks
    count from the run's end (worst first), the rest from its start."""
    n = same.size + 1
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.logical_not(same, out=new[1:])
    starts = np.flatnonzero(new).astype(np.int32)
    lengths = np.diff(starts, append=np.int32(n)).astype(np.int32)
    off = np.arange(n, dtype=np.int32)
    off -= np.repeat(starts, lengths)  # position within the run
    rev = np.repeat(lengths - 1, lengths)
    rev -= off  # position from the run's end
    return np.where(asks, rev, off)


def _same_run(seq: npt.NDArray[np.uint64], typ: npt.NDArray[np.int8]) -> npt.NDArray[np.bool_]:
    same: npt.NDArray[np.bool_] = seq[1:] == seq[:-1]
    same &= typ[1:] == typ[:-1]
    return same


def _mt5_ordered(same_seq: npt.NDArray[np.bool_], same: npt.NDArray[np.bool_],
                 typ: npt.NDArray[np.int8], price: npt.NDArray[np.float64]) -> bool:
    """True when each snapshot lists its types in one run each, prices descending."""
    if np.any(same & ~(price[1:] < price[:-1])):
        return False
    rank = _TYPE_RANK[np.clip(typ, 0, 7)]
    return not np.any(same_seq & (rank[1:] < rank[:-1]))


def side_depth(seq: npt.ArrayLike, typ: npt.ArrayLike,
               price: npt.ArrayLike) -> tuple[pa.DictionaryArray, pa.Array]:
    """``side`` and ``depth`` arrays for level rows sorted by ``seq`` (then level).

    Args:
        seq, typ, price: the rows' columns, any array-likes NumPy accepts.

    Returns:
        ``(side, depth)``: a dictionary array (nulls on marker rows) and int16.
    """
    s = np.asarray(seq, dtype=np.uint64)
    t = np.asarray(typ, dtype=np.int8)
    p = np.asarray(price, dtype=np.float64)
    n = s.size
    depth = np.empty(n, dtype=np.int16)
    same_seq = s[1:] == s[:-1]
    same = same_seq & (t[1:] == t[:-1])
    if n == 0:
        pass
    elif _mt5_ordered(same_seq, same, t, p):
        np.copyto(depth, _depth_in_runs(same, (t == 1) | (t == 3)), casting="unsafe")
    else:
        # Any other order: sort by (seq, type, price descending), rank, scatter back.
        order = np.lexsort((-p, t, s))
        so, to = s[order], t[order]
        depth[order] = _depth_in_runs(_same_run(so, to), (to == 1) | (to == 3))
    marker = (t < 1) | (t > 4)
    depth[marker] = -1
    codes = (t.astype(np.int8) - 1)
    codes[marker] = 0
    side = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8(), mask=marker), _SIDE_DICT)
    return side, pa.array(depth, pa.int16())
