"""``booktape.record``: one recording session, from arguments to sealed parts.

Validates everything before touching the tape, takes the collector's lock,
seals journals a previous crash left, continues each symbol's ``seq`` from the
last sealed one, runs the chosen topology, and reads the session back to
report what actually reached the disk.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .capture.loop import CaptureConfig, StopFlag
from .capture.stats import Stats
from .clock import SystemClock
from .errors import BadArgument
from .events import Event, EventLog
from .read.summary import Summary, empty_summary, summarize
from .service.calendar import Window
from .service.runner import prepare_service
from .service.schedule import close_event, open_event
from .sources import SourceSpec
from .tape.layout import check_name, events_path
from .tape.recover import recover
from .tape.tape import Tape
from .tape.writer import WriterConfig
from .transport import DEFAULT_TOPOLOGY, RecordPlan, get_topology
from .transport._tracker import install as install_tracker_guard
from .transport.spill_replay import replay_spills
from .units import parse_duration, parse_size, parse_until

log = logging.getLogger(__name__)


def _prepare_root(out: str | Path) -> Path:
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise BadArgument(f"--out {root} is a file; give a directory for the tape")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f"._write_probe_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise BadArgument(f"--out {root} is not writable: {e.strerror or e}") from None
    return root


@contextmanager
def _signals(stop: StopFlag) -> Iterator[None]:
    """First Ctrl-C/SIGTERM: stop and seal. Second: exit at once (journals stay for recover)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits = [0]

    def handler(signum: int, frame: Any) -> None:
        hits[0] += 1
        stop.set()
        if hits[0] >= 2:
            from .transport._child import unlink_segments

            unlink_segments()
            os._exit(130)

    sigs = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGBREAK"):
        sigs.append(signal.SIGBREAK)
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def record(out: str | Path, symbols: str | list[str] | tuple[str, ...] = ("RIU2",), *,
           source: str = "sim", source_options: dict[str, Any] | None = None,
           duration: str | float | None = None, until: str | None = None,
           polls: int | None = None, interval: str | int = 0, collector: str = "zero",
           rotate_every: str | int = "1h", rotate_bytes: str | int = "1GB",
           keep_unchanged: bool = False, topology: str = DEFAULT_TOPOLOGY,
           sync_every: str | int = "1s", chunk_snapshots: int = 128,
           on_status: Callable[[dict[str, int]], None] | None = None,
           stop: StopFlag | None = None, buffer_bytes: int | None = None,
           diag_dir: str | None = None, stats: Stats | None = None,
           publish: str | None = None, publish_options: dict[str, Any] | None = None,
           session: str | None = None, calendar: str | None = None,
           stale_after: str | int = "2m", log_file: str | None = None,
           metrics: str | None = None) -> Summary:
    """Record order books until the duration/time/poll count is reached or Ctrl-C.

    Args:
        out: the tape directory (created if missing).
        symbols: one symbol or several, polled round-robin, each with its own seq.
        source: ``sim`` (default), or another registered source kind.
        source_options: keyword options of the source (e.g. ``{"latency_ns": 80_000}``).
        duration: e.g. ``"10m"`` (a bare number is seconds). ``until``: ``"23:50"``.
        polls: stop after this many polls (tests and benchmarks).
        interval: pause between polls, e.g. ``"50ms"``; 0 polls as fast as possible.
        collector: this recorder's name (``zero``, ``one``...), a partition key.
        rotate_every, rotate_bytes: seal a segment after this age / this much data.
        keep_unchanged: store every poll, not only changed books.
        topology: how polling and storage are split across processes.
        on_status: called about twice a second with the live counters, in the
            polling thread between polls: keep it to microseconds (or read
            ``stats`` from another process, as the CLI's status line does).
        buffer_bytes: the acquirer's in-memory backlog before it spills to disk
            (default: ``rotate_bytes``, the memory threshold); with ``ring``
            a value under 64 MiB also shrinks the shared-memory ring to it.
        diag_dir: a directory for benchmark measurements (poll stamps, latencies).
        stats: live counters in shared memory to fill (a new set if None),
            readable from any process while recording.
        publish: a NATS URL (``nats://HOST:4222``, ``tls://...``): also publish every
            stored chunk to JetStream (see :mod:`booktape.bus`).
        publish_options: ``stream``, ``duplicate_window``, ``nats_auth`` (a credentials
            file), ``buffer_bytes``, ``no_local``, ``replicas``, ``ack_timeout``, ``close_timeout``.

        session: a trading calendar (``moex-forts``, see ``booktape sessions``): wait for
            each session to open, record through it, seal at its close and at its
            pauses, and go on to the next trading day; ``duration``/``until`` end the
            whole run. ``calendar``: the path of a calendar TOML file (a user's copy).
        stale_after: a book unchanged this long (session open) is a ``stale`` event.
        log_file: a rotating log file, one line per event (``--log``, :mod:`booktape.service`).
        metrics: serve Prometheus metrics at ``HOST:PORT`` (a bare port: 127.0.0.1).

    Returns:
        A :class:`~booktape.read.summary.Summary` computed from the data read back from disk
        (with a session: of the last window recorded).
    """
    from .transport._child import refuse_in_spawned_child

    refuse_in_spawned_child()
    if str(out).strip() == "":
        # Path("") is the current directory: an empty --out must not record into it.
        raise BadArgument("--out is empty; give the tape directory")
    syms = (symbols,) if isinstance(symbols, str) else tuple(symbols)
    if not syms:
        raise BadArgument("give at least one --symbol")
    for s in syms:
        check_name("symbol", s)
    if len(set(syms)) != len(syms):
        raise BadArgument(f"--symbol given twice: {', '.join(syms)}")
    check_name("collector", collector)
    schedule = None
    if session is not None or calendar is not None:
        from .service.calendar import load_calendar

        schedule = load_calendar(calendar if calendar is not None else str(session))
    clock = SystemClock()
    now = clock.now_ns()
    deadline = None
    if duration is not None and until is not None:
        raise BadArgument("give --duration or --until, not both")
    if duration is not None:
        d = parse_duration(duration, "--duration")
        if d <= 0:
            raise BadArgument(f"invalid --duration {duration!r}: must be positive")
        deadline = now + d
    elif until is not None:
        local_now = dt.datetime.fromtimestamp(now / 1e9).astimezone()
        deadline = int(parse_until(until, local_now).timestamp() * 1e9)
    if polls is not None and polls <= 0:
        raise BadArgument(f"invalid --polls {polls}: must be positive")
    wcfg = WriterConfig(
        rotate_every_ns=parse_duration(rotate_every, "--rotate-every"),
        rotate_bytes=parse_size(rotate_bytes, "--rotate-bytes"),
        sync_every_ns=parse_duration(sync_every, "--sync-every"),
    )
    if wcfg.rotate_every_ns <= 0:
        raise BadArgument(f"invalid --rotate-every {rotate_every!r}: must be positive")
    spec = SourceSpec(source, dict(source_options or {}))
    run_topology = get_topology(topology)
    from .sources import make_source

    make_source(spec)  # validates kind and options before the tape is touched
    downstream = None
    if publish is not None:
        from .bus.plan import prepare_publish

        downstream = prepare_publish(publish, publish_options, collector)
    service_opts = prepare_service(stale_after, log_file, metrics)
    root = _prepare_root(out)
    tape = Tape(root)
    tape.lock(collector)
    install_tracker_guard()  # a killed resource tracker must not end in a traceback
    stop = stop or StopFlag()
    # Our handlers stay installed until the summary is printed: a second Ctrl-C
    # at any point exits at once (journals stay for `recover`), never a traceback.
    with _signals(stop):
        try:
            stats = stats if stats is not None else Stats()

            def run(deadline_ns: int | None, window: Window | None = None) -> Summary:
                now = clock.now_ns()
                recovered = recover(tape, now, collector)
                # A killed session's spill file may hold the only copy of its last states:
                # sealed before this session numbers its own (issue 11).
                for r in replay_spills(tape, now, collector):
                    log.warning("%s", r.describe())
                run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now / 1e9)) + "-" + uuid.uuid4().hex[:6]
                ev_path = events_path(root, collector, run_id)
                events = EventLog(ev_path)
                start_seq = tuple(tape.last_seq(s, collector) + 1 for s in syms)
                cap = CaptureConfig(symbols=syms, interval_ns=parse_duration(interval, "--interval"),
                                    keep_unchanged=keep_unchanged, deadline_ns=deadline_ns, max_polls=polls,
                                    chunk_snapshots=chunk_snapshots)
                plan = RecordPlan(root=str(root), collector=collector, session=run_id, source=spec,
                                  capture=cap, writer=wcfg, start_seq=start_seq, events_path=str(ev_path),
                                  meta={"source": source, "topology": topology},
                                  buffer_bytes=buffer_bytes, diag_dir=diag_dir, downstream=downstream)
                events.emit(Event("session_start", now, collector=collector, detail={
                    "session": run_id, "symbols": list(syms), "source": source, "topology": topology,
                    "start_seq": list(start_seq), "recovered_journals": len(recovered)}))
                if window is not None:
                    events.emit(open_event(window, now, collector, run_id))
                stats.set("started_ns", now)
                stats.set("polls_ended_ns", 0)  # health says "draining" once it is set
                stats.set("session_state", 0 if window is None else 1)
                last = [0.0]
                service = service_opts.start(root, collector, syms, run_id, ev_path, stats,
                                             events, source=source, topology=topology,
                                             stop=stop,
                                             close_ns=None if window is None else window.close_ns)

                def on_tick() -> None:
                    service.tick()
                    if on_status is None:
                        return
                    t = time.monotonic()
                    if t - last[0] >= 0.5:
                        last[0] = t
                        on_status(stats.as_dict())

                t0 = clock.now_ns()
                stats.set("next_open_ns", 0)
                try:
                    result = run_topology(plan, stop, stats, events, on_tick)
                except BaseException as e:
                    service.stop(error=str(e) or type(e).__name__)
                    raise
                t1 = clock.now_ns()
                if service.unguarded:  # what was captured is sealed; now say why we stopped
                    from .errors import UnguardedMain
                    from .transport._child import UNGUARDED_MESSAGE

                    service.stop(error=UNGUARDED_MESSAGE)
                    raise UnguardedMain(f"{UNGUARDED_MESSAGE}; recording stopped, what was "
                                        f"captured was sealed")
                if window is not None:
                    reason = "stop" if stop.is_set() else "close" if t1 >= window.close_ns else "deadline"
                    events.emit(close_event(window, t1, collector, run_id, reason))
                stats.set("stopped_ns", t1)
                events.emit(Event("session_stop", t1, collector=collector, count=result.polls, detail={
                    "session": run_id, "polls": result.polls, "stored": result.stored,
                    "unchanged": result.unchanged, "none_results": result.none_results,
                    "next_seq": result.next_seq, "trailing_unchanged": result.trailing_unchanged,
                    "trailing_blind_ns": dict(zip(syms, result.trailing_blind)),
                    "started_ns": t0}))
                if window is not None and not stop.is_set() and (deadline is None or t1 < deadline):
                    stats.set("session_state", 3)  # the scheduler waits for the next window
                    service.stop(state="waiting")
                else:
                    service.stop()
                events.close()
                if on_status is not None:
                    on_status(stats.as_dict())
                tape.refresh()  # the topology's processes made new partitions
                return summarize(tape, collector, run_id)

            if schedule is None:
                return run(deadline)
            from .service.schedule import run_schedule

            def on_wait(w: Any) -> None:
                stats.set("next_open_ns", w.open_ns)
                stats.set("session_state", 3)
                service_opts.waiting(root, collector, syms, stats, source=source,
                                     topology=topology)

            done = run_schedule(schedule, lambda w, d: run(d, w), clock=clock, stop=stop,
                                end_ns=deadline, on_wait=on_wait)
            return done[-1] if done else empty_summary(root, collector, source, topology)
        finally:
            tape.release()
