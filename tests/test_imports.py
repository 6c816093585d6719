from __future__ import annotations

import ast
from pathlib import Path

import booktape


def test_public_api_is_pinned():
    assert booktape.__all__ == ["BookState", "BooktapeError", "Summary", "__version__", "book_at",
                                "quotes", "read", "read_arrow", "record", "replay", "top"]
    for name in booktape.__all__:
        assert hasattr(booktape, name)


def test_importing_booktape_does_not_import_the_cli_stack():
    import subprocess
    import sys

    code = ("import sys, booktape; bad = [m for m in ('rich', 'click', 'matplotlib') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


# The layers, bottom up (README, "Architecture"): a module may import its own
# layer and those below, never one above. A new package gets a rank here.
LAYERS = {
    "errors": 0, "interrupts": 0, "model": 0, "schema": 0, "clock": 0, "events": 0, "units": 0, "outpaths": 0,
    "tape": 1, "capture": 1,
    "sources": 2, "transport": 2, "emulator": 2,
    "read": 3, "bus": 3,
    "analysis": 4,
    "bench": 5, "record": 5, "snapshot": 5, "service": 5,
    "cli": 6, "__init__": 6, "__main__": 6,
}


def _imports(path):
    """(line, top-level booktape room) of every import in a module, lazy ones included."""
    pkg = Path(booktape.__file__).parent
    rel = path.relative_to(pkg).with_suffix("").parts
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:-1])[: len(rel) - node.level] if node.level > 1 else list(rel[:-1])
                mod = base + (node.module.split(".") if node.module else [])
                names = [mod] if node.module else [mod + [a.name] for a in node.names]
            elif node.module and node.module.split(".")[0] == "booktape":
                names = [node.module.split(".")[1:]]
            else:
                continue
            for n in names:
                if n:
                    yield node.lineno, n[0]
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "booktape" and len(parts) > 1:
                    yield node.lineno, parts[1]


def test_imports_point_down_the_layers():
    pkg = Path(booktape.__file__).parent
    bad, unknown = [], set()
    for path in sorted(pkg.rglob("*.py")):
        room = path.relative_to(pkg).with_suffix("").parts[0]
        if room not in LAYERS:
            unknown.add(room)
            continue
        for line, target in _imports(path):
            if target not in LAYERS:
                unknown.add(target)
            elif LAYERS[target] > LAYERS[room]:
                bad.append(f"{path.relative_to(pkg)}:{line} imports {target} (a higher layer)")
    assert not unknown, f"give these rooms a layer in tests/test_imports.py: {sorted(unknown)}"
    assert not bad, "\n".join(bad)
