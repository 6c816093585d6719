"""What a bench runs: the configuration, its parsing, and the interleaved run order.

Every combination of topology × memory threshold × source latency is run
``repeat`` times; each round visits all combinations in a fresh shuffled
order (seeded), so slow drift of the machine (thermal, other tenants, page
cache) lands on every configuration alike instead of on whichever ran last.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadArgument
from ..transport import topology_names
from ..units import parse_duration, parse_size

#: The baseline row: the notebook's own loop (a DataFrame per poll, pd.concat, to_csv).
NOTEBOOK = "notebook"
SOURCES = ("sim", "mt5", "mt5linux")


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """One bench: every field is already validated (build it with :func:`make_config`)."""

    source: str = "sim"
    source_options: dict[str, Any] = field(default_factory=dict)
    symbol: str = "RIU2"
    topologies: tuple[str, ...] = ()
    thresholds: tuple[int, ...] = (16 << 20, 256 << 20)
    #: Source latencies in ns (sim only); ``None`` = the source's own (real terminals).
    latencies: tuple[int | None, ...] = (0, 80_000)
    duration_ns: int | None = 10_000_000_000
    polls: int | None = None
    repeat: int = 3
    seed: int = 1
    #: 2: each run is followed, in the same round, by two collectors polling one shared
    #: sim market side by side (the notebook's "2 processes in parallel" question)
    collectors: int = 1


@dataclass(frozen=True)
class Combo:
    """One configuration; ``key`` identifies it across repeats and across benches."""

    topology: str
    threshold: int
    latency_ns: int | None

    @property
    def key(self) -> str:
        return f"{self.topology}|{self.threshold}|{'native' if self.latency_ns is None else self.latency_ns}"


@dataclass(frozen=True)
class Run:
    combo: Combo
    repeat: int
    index: int


def all_topologies() -> list[str]:
    return [*topology_names(), NOTEBOOK]


def parse_topologies(text: str) -> tuple[str, ...]:
    """``all`` or a comma list of topology names (``notebook`` included)."""
    known = all_topologies()
    if text.strip().lower() == "all":
        return tuple(known)
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in names if t not in known]
    if bad or not names:
        raise BadArgument(f"invalid --topologies {text!r}: unknown {', '.join(bad) or 'empty list'}; "
                          f"choose 'all' or some of: {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def parse_thresholds(text: str) -> tuple[int, ...]:
    """``16MB,256MB,1GB`` → bytes."""
    parts = [t.strip() for t in text.split(",") if t.strip()]
    if not parts:
        raise BadArgument(f"invalid --thresholds {text!r}: give sizes like 16MB,256MB,1GB")
    return tuple(dict.fromkeys(parse_size(p, "--thresholds") for p in parts))


def parse_latencies(text: str | None, source: str) -> tuple[int | None, ...]:
    """``0,80us,500us`` → ns. Only the sim has a settable latency."""
    if source != "sim":
        if text:
            raise BadArgument(f"--latency applies only to --source sim; {source} has its own")
        return (None,)
    parts = [t.strip() for t in (text or "0,80us").split(",") if t.strip()]
    if not parts:
        raise BadArgument(f"invalid --latency {text!r}: give durations like 0,80us,500us")
    out = []
    for p in parts:
        v = parse_duration(p, "--latency", default_unit="us")
        if v < 0:
            raise BadArgument(f"invalid --latency {p!r}: must be >= 0")
        out.append(v)
    return tuple(dict.fromkeys(out))


def make_config(*, source: str = "sim", source_options: dict[str, Any] | None = None,
                symbol: str = "RIU2", topologies: str = "all", thresholds: str = "16MB,256MB",
                latency: str | None = None, duration: str | None = None, polls: int | None = None,
                repeat: int = 3, seed: int = 1, collectors: int = 1) -> BenchConfig:
    """Validate the bench's options (the CLI's text forms) into a :class:`BenchConfig`.

    Raises:
        BadArgument: an unknown topology or source, a bad size/duration, a count < 1.
    """
    if source not in SOURCES:
        raise BadArgument(f"invalid --source {source!r}; choose one of: {', '.join(SOURCES)}")
    if duration is not None and polls is not None:
        raise BadArgument("give --duration or --polls, not both")
    dur = None
    if polls is None:
        dur = parse_duration(duration or "10s", "--duration")
        if dur <= 0:
            raise BadArgument(f"invalid --duration {duration!r}: must be positive")
    elif polls <= 0:
        raise BadArgument(f"invalid --polls {polls}: must be positive")
    if repeat < 1:
        raise BadArgument(f"invalid --repeat {repeat}: must be >= 1")
    if collectors not in (1, 2):
        raise BadArgument(f"invalid --collectors {collectors}: 1 or 2")
    if collectors == 2 and source != "sim":
        raise BadArgument("--collectors 2 needs --source sim (one shared simulated market)")
    return BenchConfig(source=source, source_options=dict(source_options or {}), symbol=symbol,
                       topologies=parse_topologies(topologies),
                       thresholds=parse_thresholds(thresholds),
                       latencies=parse_latencies(latency, source), duration_ns=dur, polls=polls,
                       repeat=repeat, seed=seed, collectors=collectors)


def combinations(cfg: BenchConfig) -> list[Combo]:
    return [Combo(t, th, lat) for lat in cfg.latencies for th in cfg.thresholds
            for t in cfg.topologies]


def schedule(cfg: BenchConfig) -> list[Run]:
    """Every run in execution order: each repeat is one round over all combinations, shuffled."""
    combos = combinations(cfg)
    rng = random.Random(cfg.seed)
    runs: list[Run] = []
    for r in range(cfg.repeat):
        order = combos[:]
        rng.shuffle(order)
        base = len(runs)
        runs.extend(Run(c, r, base + i) for i, c in enumerate(order))
    return runs


def source_options_for(cfg: BenchConfig, latency_ns: int | None) -> dict[str, Any]:
    """The sim runs lockstep when it has a latency (a reproducible, busy book), as in issue 3,
    except with ``--collectors 2``."""
    opts = dict(cfg.source_options)
    if latency_ns is not None:
        opts["latency_ns"] = latency_ns
        # Two collectors need one market in wall time (realtime, anchored); lockstep
        # advances per call. Their single-collector round runs realtime too, so the
        # two are compared on one kind of market (issue 13).
        if latency_ns > 0 and cfg.collectors == 1:
            opts["lockstep"] = True
    return opts
