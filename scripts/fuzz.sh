#!/usr/bin/env bash
# Fuzzes every Fuzz target of the module for a while each (default 6s,
# or the duration given: scripts/fuzz.sh 60s), one after the other, and
# fails if any finds a crash. Go writes a crashing input to the
# package's testdata/fuzz/FuzzX/; commit it with the fix, and plain
# `go test` runs it as a seed from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-6s}
targets=$(grep -rHo --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sed -E 's#^\./(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#; s#^\./[^/]*:func (Fuzz[A-Za-z0-9_]*)\($#. \1#' | sort)
[ -n "$targets" ] || { echo "no fuzz targets found"; exit 1; }
failed=()
while read -r dir name; do
  echo "-- $name ($dir, $fuzztime)"
  # Short minimisation: new inputs are only kept, and a crasher is
  # written whether minimised or not; the default minute would stall
  # each worker on every new input.
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "./$dir" 2>&1 | grep -v '^fuzz: elapsed'; then
    failed+=("$dir $name")
  fi
done <<<"$targets"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzzing found crashes in: %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzzed $(wc -l <<<"$targets") targets for $fuzztime each: no crash"
