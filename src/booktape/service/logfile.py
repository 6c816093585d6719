"""``record --log FILE``: a rotating text log, one line per event, for whoever runs the service.

The standard library's ``RotatingFileHandler`` (10 MB × 5 files by default).
Only the health helper writes it (rotation by two processes would race): it
follows the session's event rows, written by every process of the recorder,
and logs each one. Every warning the recorder prints comes with an event row.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from pathlib import Path
from typing import Any

from ..errors import BadArgument

LOGGER = "booktape"
FORMAT = "%(asctime)s %(levelname)s %(message)s"

#: Event kinds and how they read in the log (kinds not listed log as their name).
WORDS = {"session_start": "start", "session_stop": "stop", "restart": "helper restart",
         "stall": "stall", "spill": "spill", "seal": "seal", "disconnect": "disconnect",
         "reconnect": "reconnect", "stale": "stale", "not_connected": "broker lost",
         "clock_step": "clock step", "shm_cleanup": "shared memory cleanup"}


def check_log_path(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        raise BadArgument(f"--log {p} is a directory; give a file name")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise BadArgument(f"--log {p} cannot be written: {e.strerror or e}") from None
    return p


def open_log(path: str | Path, max_bytes: int = 10 << 20, backups: int = 5) -> logging.Logger:
    """A logger writing to a rotating file (``booktape.service.log``)."""
    log = logging.getLogger(f"{LOGGER}.service.log")
    log.setLevel(logging.INFO)
    log.propagate = False
    h = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                             encoding="utf-8")
    fmt = logging.Formatter(FORMAT)
    fmt.converter = time.gmtime  # UTC, like every stamp in the tape
    fmt.default_time_format = "%Y-%m-%dT%H:%M:%S"
    fmt.default_msec_format = "%s.%03dZ"
    h.setFormatter(fmt)
    log.addHandler(h)
    return log


def event_line(e: dict[str, Any]) -> str:
    """One event row as one log line: the word, then what matters."""
    kind = str(e.get("kind", "?"))
    parts = [WORDS.get(kind, kind)]
    if e.get("symbol"):
        parts.append(str(e["symbol"]))
    if e.get("collector"):
        parts.append(f"collector={e['collector']}")
    if e.get("count"):
        parts.append(f"count={e['count']}")
    if e.get("duration_ns"):
        parts.append(f"duration={int(e['duration_ns']) / 1e9:.3f}s")
    detail = {k: v for k, v in (e.get("detail") or {}).items() if k != "session"}
    if detail:
        parts.append(json.dumps(detail, separators=(",", ":"), default=str))
    return " ".join(parts)


def level_of(e: dict[str, Any]) -> int:
    kind = e.get("kind")
    if kind in ("restart", "stall", "spill", "stale", "disconnect", "not_connected",
                "clock_step", "drop"):
        return logging.WARNING
    if kind == "error":
        return logging.ERROR
    return logging.INFO
