"""``python -m booktape`` and the ``booktape`` script.

The CLI's imports (click, pyarrow, numpy: seconds on a loaded machine) run
inside :func:`main`, so a Ctrl-C that lands in them ends the run like one
that lands in the work: ``Interrupted.`` and exit 130, not a traceback
(issue 14). Spawned helpers re-import this module as ``__mp_main__`` and,
with nothing imported at its top, skip the CLI's imports too.
"""


def main() -> None:
    try:
        from booktape.interrupts import guard_interrupts

        guard_interrupts()
        from booktape.cli import main as cli_main

        # Inside the try: an interrupt held through the imports above (see
        # guard_interrupts) is raised at the first chance after them, which can be
        # before cli_main's own handling begins.
        cli_main()
    except BaseException as e:
        from booktape.interrupts import is_interrupt, say_interrupted

        # A Ctrl-C during an extension's import can come out as ImportError (see
        # sigint_received).
        if not is_interrupt(e):
            raise
        raise SystemExit(say_interrupted()) from None


if __name__ == "__main__":
    main()
