#!/usr/bin/env bash
# bench.sh builds mcpfort and the benchmark peers, installs the pinned
# supergateway from bench/node/package-lock.json, and runs bench/cmd/mcpbench:
# every peer side by side in one run, results as Markdown tables on stdout
# (progress on stderr). Arguments are passed to mcpbench, for example:
#
#   scripts/bench.sh                          # the default run, about 4 minutes
#   scripts/bench.sh -rounds 5 -duration 10s  # a longer, steadier run
#   scripts/bench.sh -only calls,latency      # some scenarios only
#   scripts/bench.sh -only calls -profile prof  # CPU/heap profiles of mcpfort
#   scripts/bench.sh stdio-burst              # 1,000 per_session sessions at once,
#                                             # without and with warm processes
#
# stdio-burst runs BenchmarkSessionBurst (gateway/upstream/stdio) alone; it
# holds up to 1,000 idle server processes (about 10 GiB) at its peak.
# MCPFORT_BURST and MCPFORT_BURST_WARM change the burst and the warm count.
#
# Requirements: Go; Node.js 20 or later with npm for the supergateway row
# (skipped with a warning when npm is missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ "${1:-}" == "stdio-burst" ]]; then
	uptime >&2
	exec go test -run '^$' -bench 'SessionBurst' -benchtime 1x -timeout 30m ./gateway/upstream/stdio
fi
out="bin/bench"
mkdir -p "$out"

echo "bench.sh: building mcpfort and the peers into $out/" >&2
go build -o "$out/mcpfort" ./cmd/mcpfort
for pkg in bench/peers/bare bench/peers/gosdk bench/peers/fastecho bench/peers/relay \
	bench/cmd/mcpbench bench/cmd/mcpload bench/cmd/gwprof; do
	go build -o "$out/$(basename "$pkg")" "./$pkg"
done

node_dir="bench/node"
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
	# npm ci only when the lock file changed since the last install.
	if [[ ! -f "$node_dir/node_modules/.package-lock.json" ]] ||
		[[ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]]; then
		echo "bench.sh: installing supergateway (npm ci in $node_dir)" >&2
		(cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
	fi
else
	echo "bench.sh: node or npm not found; the supergateway row is skipped" >&2
	node_dir=""
fi

exec "$out/mcpbench" -bin "$out" -node "$node_dir" -cmdline "scripts/bench.sh $*" "$@"
