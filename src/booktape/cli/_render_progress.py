"""A progress bar on stderr for long reads (``merge`` over a day), fed by a library callback."""

from __future__ import annotations

from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ._render import err_console

#: What each phase of ``booktape.read.merge.merge(progress=...)`` is doing.
PHASES = {"read": "reading", "merge": "merging"}


class StatesProgress:
    """One bar per phase, counting states; the library only calls ``update(phase, done, total)``."""

    def __init__(self, quiet: bool = False) -> None:
        # Narrow enough for an 80-column terminal: a count is never cut (issue 14).
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=16),
                                 MofNCompleteColumn(), TextColumn("states"), TimeElapsedColumn(),
                                 TimeRemainingColumn(), console=err_console, disable=quiet)
        self.tasks: dict[str, Any] = {}
        # Quiet means never started, not started disabled: rich 13.0's disabled display
        # still wrote a newline to stderr when it stopped (merge --json, at the lowest
        # versions pyproject admits; issue 10).
        self._quiet = quiet
        self._started = False

    def __enter__(self) -> StatesProgress:
        return self  # the display starts with the first update: bad input prints only its error

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            self.progress.__exit__(*exc)

    def update(self, phase: str, done: int, total: int) -> None:
        if self._quiet:
            return
        if not self._started:
            self._started = True
            self.progress.__enter__()
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(PHASES.get(phase, phase), total=total)
        self.progress.update(self.tasks[phase], total=total, completed=done)
