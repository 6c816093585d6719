"""Running all day, every day: calendars, the session scheduler, the config file, and health.

Rank: above ``record.py``'s layer mates, below ``cli/`` (``tests/test_imports.py``).
Modules: :mod:`.calendar` (calendars as TOML data files, shipped in ``calendars/``),
:mod:`.schedule` (wait for the open, record through a session, seal at the close),
:mod:`.config` (``record --config FILE`` and ``booktape config check``).

Health: the recorder starts one low-priority helper process (:mod:`.helper`)
that reads the live counters the capture loop already publishes in shared
memory (:mod:`booktape.capture.stats`) once a second: it writes the
collector's health file, runs the stale-feed watchdog (:mod:`.watchdog`),
writes ``--log`` lines and serves ``--metrics``. Nothing here runs in the
poll loop. ``booktape status`` judges the health files (:mod:`.status`).
"""
