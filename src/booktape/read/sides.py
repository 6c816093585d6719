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


def _depth_in_runs(new: npt.NDArray[np.bool_], asks: npt.NDArray[np.bool_]) -> I32:
    """Depth from row order: runs start where ``new``; asks count from the run's end."""
    n = new.size
    pos = np.arange(n, dtype=np.int32)
    start = np.maximum.accumulate(np.where(new, pos, 0))
    last = np.empty(n, dtype=bool)
    last[-1:] = True
    last[:-1] = new[1:]
    end = np.minimum.accumulate(np.where(last, pos, n)[::-1])[::-1]
    return np.where(asks, end - pos, pos - start)


def _boundaries(seq: npt.NDArray[np.uint64], typ: npt.NDArray[np.int8]) -> npt.NDArray[np.bool_]:
    new = np.empty(seq.size, dtype=bool)
    new[:1] = True
    np.not_equal(seq[1:], seq[:-1], out=new[1:])
    new[1:] |= typ[1:] != typ[:-1]
    return new


def _mt5_ordered(seq: npt.NDArray[np.uint64], typ: npt.NDArray[np.int8],
                 price: npt.NDArray[np.float64]) -> bool:
    """True when each snapshot lists its types in one run each, prices descending."""
    if seq.size < 2:
        return True
    same_seq = seq[1:] == seq[:-1]
    same = same_seq & (typ[1:] == typ[:-1])
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
    if _mt5_ordered(s, t, p):
        np.copyto(depth, _depth_in_runs(_boundaries(s, t), (t == 1) | (t == 3)), casting="unsafe")
    else:
        # Any other order: sort by (seq, type, price descending), rank, scatter back.
        order = np.lexsort((-p, t, s))
        so, to = s[order], t[order]
        depth[order] = _depth_in_runs(_boundaries(so, to), (to == 1) | (to == 3))
    marker = (t < 1) | (t > 4)
    depth[marker] = -1
    codes = (t.astype(np.int8) - 1)
    codes[marker] = 0
    side = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8(), mask=marker), _SIDE_DICT)
    return side, pa.array(depth, pa.int16())
