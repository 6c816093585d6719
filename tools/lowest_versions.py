"""Print pip constraints pinning every runtime dependency to the lowest version pyproject admits.

`make test-min` installs with them, so the declared ranges are tested ranges (issue 10).
Hand-written (a dozen lines) because pip has no "lowest" resolution and uv is not on a
fresh machine.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

pyproject = Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")
deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
for dep in deps:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)", dep)
    if m is None:
        sys.exit(f"Error: {dep!r} has no lower bound (>=) in {pyproject}")
    print(f"{m.group(1)}=={m.group(2)}")
