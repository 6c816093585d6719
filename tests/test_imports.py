from __future__ import annotations

import booktape


def test_public_api_is_pinned():
    assert booktape.__all__ == ["BooktapeError", "Summary", "__version__", "read", "read_arrow",
                                "record"]
    for name in booktape.__all__:
        assert hasattr(booktape, name)


def test_importing_booktape_does_not_import_the_cli_stack():
    import subprocess
    import sys

    code = ("import sys, booktape; bad = [m for m in ('rich', 'click', 'matplotlib') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
