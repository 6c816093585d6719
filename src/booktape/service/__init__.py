"""Running all day, unattended: health files, ``status``, metrics, the stale-feed watchdog, the log.

The recorder starts one low-priority helper process (:mod:`.helper`) that
reads the live counters the capture loop already publishes in shared memory
(:mod:`booktape.capture.stats`) once a second: it writes the collector's
health file, runs the stale-feed watchdog and serves ``--metrics``. Nothing
here runs in the poll loop.
"""
