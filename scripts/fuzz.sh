#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module, one after the other, for a
# while each (go test -fuzz runs one target at a time). A finding stops
# nothing: its input is written under the package's testdata/fuzz/ (add it
# to the commit that fixes it: it becomes a seed that every `go test`
# runs) and the summary at the end names the targets that failed.
#
#   scripts/fuzz.sh              # 40s per target, about an hour in all
#   scripts/fuzz.sh 5m           # longer
#   scripts/fuzz.sh 1m ./oauth/...  # the targets under some packages
#
# Each target runs with one worker (-parallel 1), so the machine stays
# usable; FUZZ_PARALLEL raises that.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fuzztime="${1:-40s}"
shift || true
pkgs=("${@:-./...}")
parallel="${FUZZ_PARALLEL:-1}"

failed=()
n=0
mod="$(go list -m)"
for pkg in $(go list "${pkgs[@]}"); do
	dir=".${pkg#"$mod"}"
	for name in $(go test -list '^Fuzz' "$dir" 2>/dev/null | grep '^Fuzz'); do
		n=$((n + 1))
		echo "== $dir $name ($(date +%T))"
		out="$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" "$dir" 2>&1)"
		rc=$?
		grep -v '^fuzz: elapsed' <<<"$out" | tail -8
		if [[ $rc -ne 0 ]]; then
			if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
				# Go's fuzz coordinator before Go 1.27 can report its own
				# -fuzztime deadline as a failure (go.dev/issue/75804):
				# no input was found, so it is not counted.
				echo "fuzz.sh: $name: the coordinator's deadline race, no input found; not counted"
			else
				failed+=("$dir $name")
			fi
		fi
	done
done
echo "fuzz.sh: $n targets, ${#failed[@]} failed"
for f in "${failed[@]}"; do
	echo "  FAIL $f"
done
[[ ${#failed[@]} -eq 0 ]]
