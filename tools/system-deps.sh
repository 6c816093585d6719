#!/usr/bin/env bash
# Install the system programs the tests drive, when missing: `make test` runs
# this so the README's test command passes on a fresh machine by itself
# (issue 10). Arguments: Debian package names whose command has the same name.
set -uo pipefail
missing=()
for pkg in "$@"; do
  command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (apt-get) for the tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "warning: could not install ${missing[*]}; the tests that need them will fail" >&2
else
  echo "warning: ${missing[*]} missing (install with your package manager); the tests that need them will fail" >&2
fi
exit 0
