"""Run ``-m MODULE ARGS...`` or ``-c CODE ARGS...`` and write its own peak RSS (MiB) to a file.

Usage: ``python tools/peak_rss.py OUT -m booktape export ...``.

Why not ``os.wait4``/``getrusage(...).ru_maxrss``: Linux carries a process's
high-water mark across ``fork`` and ``exec`` (``signal->maxrss``), so a command
started by a big parent reports at least the parent's size. Under the full test
suite pytest held 1.3 GiB, and every child "peaked" at exactly that
(CI, session 5). ``VmHWM`` in ``/proc/self/status`` belongs to the process's
current address space, which ``exec`` replaces: it counts only this program.
"""

from __future__ import annotations

import runpy
import sys


def vm_hwm_mib() -> float:
    """This process's peak resident set since its last ``exec`` (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    out, how, what, *rest = sys.argv[1:]
    code = 0
    try:
        if how == "-m":
            sys.argv = [what, *rest]
            runpy.run_module(what, run_name="__main__", alter_sys=True)
        elif how == "-c":
            sys.argv = ["-c", *rest]
            exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})
        else:
            raise SystemExit(f"peak_rss: -m or -c, not {how}")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int) and e.code is not None:
            print(e.code, file=sys.stderr)
    finally:
        with open(out, "w") as f:
            f.write(f"{vm_hwm_mib():.3f}\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
