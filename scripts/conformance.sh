#!/usr/bin/env bash
# conformance.sh runs the official MCP conformance suite against an MCP
# server that is already running, and compares the outcome with the
# expected-failures files in conformance/.
#
#   scripts/conformance.sh NAME URL [--gateway [RUNS]]
#
#   NAME  label for this target; results go to conformance/results/NAME/
#   URL   the server's MCP endpoint, e.g. http://localhost:3001/mcp (it must
#         be a localhost URL: the dns-rebinding-protection scenario needs one)
#
# Three runs, each against its own expected-failures file (RUNS, a
# comma-separated list of their labels, selects some):
#   0.1.16                      server --suite all        expected-failures-0.1.16.yml
#   0.2.0-alpha.12              server --requirements 2025-11-25  expected-failures-2025-11-25.yml
#   0.2.0-alpha.12              server --requirements 2026-07-28  expected-failures-2026-07-28.yml
#
# The expected-failures files describe the conformance target
# (cmd/mcpfort-everything) run directly; the gateway fronting it must not add
# failures, except those expected-failures-NAME-LABEL.yml, when present,
# lists for target NAME in run LABEL, each with its reason. With --gateway (a gateway in front of the target), a scenario the
# target fails directly but that passes through the gateway is reported, not
# counted against the run. The last line printed is the one-line summary; the exit status is
# non-zero on any unexpected failure or stale expected failure (an entry that
# now passes).
set -euo pipefail

gateway=0
runs="0.1.16-all,2025-11-25,2026-07-28"
if [[ $# -ge 3 && $# -le 4 && "$3" == "--gateway" ]]; then
	gateway=1
	runs="${4:-$runs}"
elif [[ $# -ne 2 ]]; then
	echo "usage: $0 NAME URL [--gateway [RUNS]]" >&2
	exit 2
fi
name="$1"
url="$2"
if [[ ! "$name" =~ ^[A-Za-z0-9._-]+$ ]]; then
	echo "conformance.sh: NAME must match [A-Za-z0-9._-]+ (got \"$name\")" >&2
	exit 2
fi
if [[ ! "$url" =~ ^https?:// ]]; then
	echo "conformance.sh: URL must be an http(s) URL (got \"$url\")" >&2
	exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
conf="$root/conformance"

# The conformance CLI needs Node 22; npm from PATH (Node 20 is enough)
# installs the packages.
node22="$("$root/scripts/node22.sh")/node"

# Install the pinned packages when missing or when the lockfile changed.
lock_sum="$(sha256sum "$conf/package-lock.json" | cut -d' ' -f1)"
stamp="$conf/node_modules/.mcpfort-lock-sha256"
if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$lock_sum" ]]; then
	echo "conformance.sh: npm ci in conformance/" >&2
	(cd "$conf" && npm ci --no-audit --no-fund --loglevel=error >&2)
	echo "$lock_sum" >"$stamp"
fi

out="$conf/results/$name"
rm -rf "$out"
mkdir -p "$out"

total=0 passed=0 expected=0 unexpected=0 stale=0 failed_runs=0

# run LABEL PACKAGE EXPECTED-FILE ARGS...
run() {
	local label="$1" pkg="$2" ef="$3"
	shift 3
	if [[ ",$runs," != *",$label,"* ]]; then return; fi
	# A target may fail more than the conformance target does directly only
	# where its own file (expected-failures-NAME-LABEL.yml) says so and why.
	local extra="$conf/expected-failures-$name-$label.yml"
	if [[ -f "$extra" ]]; then
		local merged="$out/expected-failures-$label.yml"
		"$node22" --input-type=module -e '
			import { readFileSync, writeFileSync } from "node:fs";
			import { createRequire } from "node:module";
			const { parse, stringify } = createRequire(process.argv[1] + "/")("yaml");
			const list = (f) => (parse(readFileSync(f, "utf8")) ?? {}).server ?? [];
			writeFileSync(process.argv[4], stringify({ server: [...new Set([...list(process.argv[2]), ...list(process.argv[3])])] }));
		' "$conf" "$ef" "$extra" "$merged"
		ef="$merged"
	fi
	local dir="$out/$label" rc=0 start end
	mkdir -p "$dir"
	start=$(date +%s)
	# The CLI's own verdict (it applies the same baseline) is kept in rc; the
	# counts come from summarize.mjs, which reads the per-scenario results.
	(cd "$dir" && "$node22" "$conf/node_modules/$pkg/dist/index.js" server --url "$url" \
		--expected-failures "$ef" -o "$dir" "$@") >"$dir/output.log" 2>&1 || rc=$?
	end=$(date +%s)
	local sum
	if ! sum="$("$node22" "$conf/summarize.mjs" "$dir" "$ef")"; then
		echo "  $label: could not summarize results (see $dir/output.log)"
		failed_runs=$((failed_runs + 1))
		return
	fi
	# shellcheck disable=SC2046
	local t p e u s
	read -r t p e u s < <("$node22" -e '
		const s = JSON.parse(process.argv[1]);
		console.log(s.total, s.passed, s.expected.length, s.unexpected.length, s.stale.length);
	' "$sum")
	echo "  $label: $p/$t scenarios passed, $e expected failures, $u unexpected, $s stale ($((end - start))s, cli exit $rc)"
	"$node22" -e '
		const s = JSON.parse(process.argv[1]);
		for (const u of s.unexpected) { console.log(`    unexpected: ${u.name}`); for (const p of u.problems) console.log(`      ${p}`); }
		for (const n of s.stale) console.log(process.argv[2] === "1" ? `    passes here, though the target fails it directly: ${n}` : `    stale (now passes, remove it): ${n}`);
		for (const n of s.missing) console.log(`    note: expected failure ${n} did not run`);
	' "$sum" "$gateway"
	local s_seen=$s
	if [[ $gateway -eq 1 ]]; then
		s=0
	fi
	if [[ "$t" -eq 0 ]]; then
		echo "    no scenario ran (see $dir/output.log)"
		failed_runs=$((failed_runs + 1))
	elif [[ "$rc" -ne 0 && "$u" -eq 0 && "$s_seen" -eq 0 ]]; then
		echo "    the CLI failed although every failure was expected (see $dir/output.log)"
		failed_runs=$((failed_runs + 1))
	fi
	total=$((total + t)) passed=$((passed + p)) expected=$((expected + e))
	unexpected=$((unexpected + u)) stale=$((stale + s))
}

echo "conformance.sh: testing $url; results in conformance/results/$name/"
run 0.1.16-all conformance-0.1 "$conf/expected-failures-0.1.16.yml" --suite all
run 2025-11-25 conformance-0.2 "$conf/expected-failures-2025-11-25.yml" --requirements 2025-11-25
run 2026-07-28 conformance-0.2 "$conf/expected-failures-2026-07-28.yml" --requirements 2026-07-28

echo "conformance $name: $passed/$total scenarios passed, $expected expected failures, $unexpected unexpected, $stale stale"
if [[ $unexpected -gt 0 || $stale -gt 0 || $failed_runs -gt 0 ]]; then
	exit 1
fi
