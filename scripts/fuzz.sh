#!/usr/bin/env bash
# Fuzzes every Fuzz target of the module for a while each (default 6s,
# or the duration given: scripts/fuzz.sh 60s), one after the other, and
# fails if any finds a crash. Go writes a crashing input to the
# package's testdata/fuzz/FuzzX/; commit it with the fix, and plain
# `go test` runs it as a seed from then on.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" at the end of -fuzztime having found nothing
# (go.dev/issue/75804, fixed in Go 1.27). A failure that wrote no
# failing input is therefore run once more; a second such failure, or
# any failure that wrote an input, fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-6s}
targets=$(grep -rHo --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sed -E 's#^\./(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#; s#^\./[^/]*:func (Fuzz[A-Za-z0-9_]*)\($#. \1#' | sort)
[ -n "$targets" ] || { echo "no fuzz targets found"; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# fuzz runs one target; its output goes to the terminal and to $log.
fuzz() {
  # Short minimisation: new inputs are only kept, and a crasher is
  # written whether minimised or not; the default minute would stall
  # each worker on every new input.
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "./$1" 2>&1 |
    grep -v '^fuzz: elapsed' | tee "$log"
  return "${PIPESTATUS[0]}"
}

failed=()
while read -r dir name; do
  echo "-- $name ($dir, $fuzztime)"
  if fuzz "$dir" "$name"; then continue; fi
  if ! grep -q 'Failing input written to' "$log" && grep -q 'context deadline exceeded' "$log"; then
    echo "-- $name: failed at the deadline with no failing input (go.dev/issue/75804); once more"
    if fuzz "$dir" "$name"; then continue; fi
  fi
  failed+=("$dir $name")
done <<<"$targets"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzzing failed in: %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzzed $(wc -l <<<"$targets") targets for $fuzztime each: no crash"
