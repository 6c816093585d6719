"""What JetStream has acknowledged, per symbol: ``DATA/_bus/collector=C/cursor.json``.

``acked[symbol]`` is the highest seq such that every state from
``base[symbol]`` to it is in the stream; ``base[symbol]`` is the first seq
ever published. A restarted recorder re-sends from its local tape whatever
lies between ``acked`` and its last sealed seq. The file is replaced
atomically; a cursor left behind by a crash is only ever too low, which costs
a re-send the stream and the sink drop as duplicates.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..tape._fs import replace_durably


def bus_dir(root: Path, collector: str) -> Path:
    return root / "_bus" / f"collector={collector}"


@dataclass
class Cursor:
    path: Path
    acked: dict[str, int] = field(default_factory=dict)
    base: dict[str, int] = field(default_factory=dict)
    _saved: str = ""

    @classmethod
    def load(cls, root: Path, collector: str) -> Cursor:
        path = bus_dir(root, collector) / "cursor.json"
        c = cls(path)
        if path.exists():
            try:
                d = json.loads(path.read_text(encoding="utf-8"))
                c.acked = {str(k): int(v) for k, v in d.get("acked", {}).items()}
                c.base = {str(k): int(v) for k, v in d.get("base", {}).items()}
            except (ValueError, OSError, AttributeError):
                # Unreadable: start over from the tape's first states; the
                # stream's duplicate window and the sink drop what it had.
                c.acked, c.base = {}, {}
        return c

    def start(self, symbol: str, first_seq: int) -> None:
        """Begin publishing ``symbol`` at ``first_seq`` unless it was published before."""
        if symbol not in self.base:
            self.base[symbol] = first_seq
            self.acked[symbol] = first_seq - 1

    def save(self, durable: bool = False) -> None:
        text = json.dumps({"acked": self.acked, "base": self.base}, sort_keys=True)
        if text == self._saved:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".cursor-{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if durable:
            replace_durably(tmp, self.path)
        else:
            os.replace(tmp, self.path)
        self._saved = text
