"""Running all day, every day: trading calendars, the session scheduler, the config file.

Rank: above ``record.py``'s layer mates, below ``cli/`` (``tests/test_imports.py``).
Modules: :mod:`.calendar` (calendars as TOML data files, shipped in ``calendars/``),
:mod:`.schedule` (wait for the open, record through a session, seal at the close),
:mod:`.config` (``record --config FILE`` and ``booktape config check``).
"""
