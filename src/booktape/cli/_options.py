"""click parameter types for booktape's units: errors become one clean line."""

from __future__ import annotations

from typing import Any

import click

from ..errors import BadArgument
from ..units import parse_duration, parse_size


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(str(value), f"--{param.name.replace('_', '-')}" if param and param.name else "duration")
        except BadArgument as e:
            self.fail(str(e).split(": ", 1)[-1], param, ctx)


class Size(click.ParamType):  # type: ignore[type-arg]
    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except BadArgument as e:
            self.fail(str(e).split(": ", 1)[-1], param, ctx)


DURATION = Duration()
SIZE = Size()
