# `make demo` and `make test` are the README's two set-up commands: each builds
# the virtual environment on first use (only Python >= 3.11, pip, gcc, make needed).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# The lowest versions pyproject admits (issue 10): a second venv, `make test-min`.
VENV_MIN  ?= .venv-min
STAMP_MIN  = $(VENV_MIN)/.installed

.PHONY: demo test test-min test-windows system-deps lint bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/booktape record --symbol RIU2 --out data --duration 20s

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

# The programs the tests drive (the HTML report test runs a headless chromium).
system-deps:
	@tools/system-deps.sh chromium

$(STAMP_MIN): pyproject.toml tools/lowest_versions.py
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install -q --upgrade pip
	$(PYTHON) tools/lowest_versions.py > $(VENV_MIN)/lowest.txt
	$(VENV_MIN)/bin/python -m pip install -q -c $(VENV_MIN)/lowest.txt -e '.[test]'
	touch $(STAMP_MIN)

# PYTEST_ARGS narrows it, e.g. to what the Windows lane leaves out (its complement at the
# same versions): make test-min PYTEST_ARGS='-m "wine_slow and not mt5"'
test-min: $(STAMP_MIN) system-deps
	$(VENV_MIN)/bin/python -m pytest -q $(PYTEST_ARGS)

# Windows CPython under Wine; set up on first use in .winlane/ (tools/windows-lane.sh).
test-windows:
	tools/windows-lane.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# The integrity fuzzer (issue 11) at length: ~2,000 random cases per target, not derandomized.
fuzz: $(STAMP)
	BOOKTAPE_FUZZ_EXAMPLES=2000 BOOKTAPE_FUZZ_RANDOM=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
		-o timeout=3600 tests/test_fuzz_integrity.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_capture.py

clean:
	rm -rf $(VENV) $(VENV_MIN) .winlane data build *.egg-info
