"""``booktape bench``: the notebook's latency experiment as a library.

Every topology × memory threshold × source latency, each run in a fresh
process, in interleaved order, measured from the files it left (poll stamps,
seal windows, the tape read back), ranked, and written as results and plots.

    from booktape.bench import make_config, run_bench
    records = run_bench(make_config(topologies="sequential,ring", duration="5s"), "bench-out")
"""

from __future__ import annotations

from .compare import compare
from .plan import NOTEBOOK, BenchConfig, all_topologies, make_config, schedule
from .rank import aggregate, recommendations
from .report import load_results, markdown_table
from .run import RunRecord, run_bench

__all__ = ["NOTEBOOK", "BenchConfig", "RunRecord", "aggregate", "all_topologies", "compare",
           "load_results", "make_config", "markdown_table", "recommendations", "run_bench",
           "schedule"]
