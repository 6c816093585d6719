# `make demo` and `make test` are the README's two set-up commands: each builds
# the virtual environment on first use (only Python >= 3.11, pip, gcc, make needed).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/booktape record --symbol RIU2 --out data --duration 20s

test: $(STAMP)
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) data build *.egg-info
