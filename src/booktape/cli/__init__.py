"""The ``booktape`` command: a thin click layer over the library.

Each command parses options, calls one library function and renders the
result. A :class:`~booktape.errors.BooktapeError` becomes ``Error: ...`` on
stderr with its exit code (2 for bad input); click's own usage errors exit 2.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import BooktapeError
from ..interrupts import is_interrupt, say_interrupted
from ._streams import make_std_streams_safe


class BooktapeGroup(click.Group):
    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except KeyboardInterrupt:
            # Ctrl-C while click parses, before any command runs: the same line and code.
            raise click.exceptions.Exit(say_interrupted()) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BooktapeError as e:
            click.echo(f"Error: {e}", err=True)
            ctx.exit(e.exit_code)
        except (KeyboardInterrupt, Exception) as e:
            # click would print "Aborted!" and exit 1, the code for "problems found";
            # a cron wrapper must tell an interrupted run apart (issue 14). After a
            # Ctrl-C, an error is the interrupt as a library reported it.
            if not is_interrupt(e):
                raise
            ctx.exit(say_interrupted())


@click.group(cls=BooktapeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="booktape")
def cli() -> None:
    """Record every order-book state a terminal shows into verifiable Parquet tapes."""


def main() -> None:
    make_std_streams_safe()
    try:
        cli(prog_name="booktape")
    except (KeyboardInterrupt, Exception) as e:
        if not is_interrupt(e):
            raise
        sys.exit(say_interrupted())


# Command modules register themselves on `cli` when imported.
from . import analyze as _analyze  # noqa: E402,F401
from . import bench as _bench  # noqa: E402,F401
from . import bus as _bus  # noqa: E402,F401
from . import merge as _merge  # noqa: E402,F401
from . import mt5 as _mt5  # noqa: E402,F401
from . import record as _record  # noqa: E402,F401
from . import service as _service  # noqa: E402,F401
from . import status as _status  # noqa: E402,F401
from . import tapes as _tapes  # noqa: E402,F401
