"""Follow a JSON-lines event file as other processes append to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class EventTail:
    """New complete lines since the last call; a line still being written waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.rest = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return []
        self.pos += len(data)
        buf = self.rest + data
        *lines, self.rest = buf.split(b"\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out
