#!/usr/bin/env bash
# conformance-all.sh runs the official MCP conformance suites (see
# scripts/conformance.sh) against three targets and ends with one summary
# line per target:
#
#   target         cmd/mcpfort-everything over Streamable HTTP, directly
#   gateway-http   mcpfort fronting that server over HTTP
#   gateway-stdio  mcpfort fronting the same server run over stdio
#
# The gateway must pass everything the target passes directly. Ports are
# three consecutive free ones from CONFORMANCE_PORT_BASE (default: a random
# base, so concurrent runs do not collide). Expects bin/mcpfort and
# bin/mcpfort-everything (make build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base="${CONFORMANCE_PORT_BASE:-}"
if [[ -z "$base" ]]; then
	for _ in $(seq 1 50); do
		# Below the kernel's ephemeral range (32768 and up), where a
		# port can be taken by an outgoing connection between the check
		# and the bind.
		base=$((10000 + RANDOM % 20000))
		if ! in_use $base && ! in_use $((base + 1)) && ! in_use $((base + 2)); then break; fi
	done
fi
p_target=$base p_http=$((base + 1)) p_stdio=$((base + 2))
work="$(mktemp -d)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # URL
	for _ in $(seq 1 100); do
		if curl -fsS -o /dev/null "$1"; then return 0; fi
		sleep 0.1
	done
	echo "conformance-all.sh: $1 did not come up" >&2
	return 1
}

bin/mcpfort-everything -http "127.0.0.1:$p_target" 2>"$work/target.log" &
pids+=($!)
cat >"$work/gateway-http.yaml" <<YAML
listen: 127.0.0.1:$p_http
log: {level: warn}
state: {dir: $work/http}
servers:
  - name: everything
    path: /mcp
    http: {url: "http://127.0.0.1:$p_target/mcp"}
YAML
cat >"$work/gateway-stdio.yaml" <<YAML
listen: 127.0.0.1:$p_stdio
log: {level: warn}
state: {dir: $work/stdio}
servers:
  - name: everything
    path: /mcp
    stdio: {command: ["$root/bin/mcpfort-everything"]}
YAML
bin/mcpfort serve --config "$work/gateway-http.yaml" 2>"$work/gateway-http.log" &
pids+=($!)
bin/mcpfort serve --config "$work/gateway-stdio.yaml" 2>"$work/gateway-stdio.log" &
pids+=($!)
wait_for "http://127.0.0.1:$p_target/health"
wait_for "http://127.0.0.1:$p_http/healthz"
wait_for "http://127.0.0.1:$p_stdio/healthz"

status=0
summary=()
run() { # NAME URL [--gateway]
	local log="$work/$1.out"
	if scripts/conformance.sh "$@" | tee "$log"; then
		summary+=("$(tail -n 1 "$log")")
		return
	fi
	# A gateway target that fails is run once more, and says so: the
	# 2026-07-28 check that a list change reaches an open listen stream
	# (a SHOULD) fails now and then through the stdio pool, a timing
	# dependence still to be removed. A failure that repeats fails the run.
	if [[ "${3:-}" == "--gateway" ]]; then
		echo "conformance-all.sh: $1 had unexpected results; running it once more" >&2
		if scripts/conformance.sh "$@" | tee "$log"; then
			summary+=("$(tail -n 1 "$log") (on the second run; the first had unexpected results)")
			return
		fi
	fi
	status=1
	summary+=("$(tail -n 1 "$log")")
}
run target "http://localhost:$p_target/mcp"
run gateway-http "http://localhost:$p_http/mcp" --gateway
run gateway-stdio "http://localhost:$p_stdio/mcp" --gateway

if [[ $status -ne 0 ]]; then
	for f in gateway-http gateway-stdio; do
		echo "--- last lines of $f log:"
		tail -n 20 "$work/$f.log" || true
	done
fi
echo
for s in "${summary[@]}"; do echo "$s"; done
exit $status
