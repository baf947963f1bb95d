#!/usr/bin/env bash
# conformance-all.sh runs the official MCP conformance suites (see
# scripts/conformance.sh) against these targets and ends with one summary
# line per target:
#
#   target                cmd/mcpfort-everything over Streamable HTTP, directly
#   gateway-http          mcpfort fronting that server over HTTP
#   gateway-stdio         mcpfort fronting the same server run over stdio
#   gateway-http-legacy   as gateway-http with the upstream forced to era: legacy,
#   gateway-stdio-legacy  as gateway-stdio, likewise: the 2026-07-28 run only,
#                         whose every call crosses the era bridge
#   gateway-http-modern   as gateway-http with the upstream forced to era: modern,
#   gateway-stdio-modern  likewise: the 0.1.16 and 2025-11-25 runs only
#
# The target speaks both eras, so only a forced era makes the suite's calls
# cross the bridge; the runs in which client and upstream share an era are
# the unforced targets' and are not repeated. The gateway must pass
# everything the target passes directly. Ports are seven consecutive free
# ones from CONFORMANCE_PORT_BASE (default: a random base, so concurrent runs
# do not collide). Expects bin/mcpfort and bin/mcpfort-everything (make build).
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
		free=1
		for i in 0 1 2 3 4 5 6; do
			if in_use $((base + i)); then free=0; fi
		done
		if [[ $free -eq 1 ]]; then break; fi
	done
fi
p_target=$base
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
# gateway NAME PORT-OFFSET KIND ERA: writes the gateway's configuration,
# starts it, and records its port in port_NAME.
declare -A port
gateways=()
gateway() {
	local name="$1" p=$((base + $2)) kind="$3" era="$4" up
	if [[ "$kind" == http ]]; then
		up="http: {url: \"http://127.0.0.1:$p_target/mcp\"}"
	else
		up="stdio: {command: [\"$root/bin/mcpfort-everything\"]}"
	fi
	cat >"$work/$name.yaml" <<YAML
listen: 127.0.0.1:$p
log: {level: warn}
state: {dir: $work/$name}
servers:
  - name: everything
    path: /mcp
    era: $era
    $up
YAML
	start_gateway "$name"
	port[$name]=$p
	gateways+=("$name")
}
# start_gateway NAME: runs the gateway NAME on its configuration.
declare -A gwpid
start_gateway() {
	bin/mcpfort serve --config "$work/$1.yaml" 2>>"$work/$1.log" &
	pids+=($!)
	gwpid[$1]=$!
}
# restart_gateway NAME: stops the gateway NAME (SIGTERM: it stops its stdio
# servers) and starts it again, so that a second run starts from what the
# first did: the stdio servers of the first run's sessions, which the
# suite does not end, would otherwise hold the pool's processes.
restart_gateway() {
	kill "${gwpid[$1]}" 2>/dev/null || true
	wait "${gwpid[$1]}" 2>/dev/null || true
	start_gateway "$1"
	wait_for "http://127.0.0.1:${port[$1]}/healthz"
}
gateway gateway-http 1 http auto
gateway gateway-stdio 2 stdio auto
gateway gateway-http-legacy 3 http legacy
gateway gateway-http-modern 4 http modern
gateway gateway-stdio-legacy 5 stdio legacy
gateway gateway-stdio-modern 6 stdio modern
wait_for "http://127.0.0.1:$p_target/health"
for n in "${gateways[@]}"; do wait_for "http://127.0.0.1:${port[$n]}/healthz"; done

status=0
summary=()
run() { # NAME URL [--gateway [RUNS]]
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
		echo "conformance-all.sh: $1 had unexpected results; running it once more, on a restarted gateway" >&2
		restart_gateway "$1"
		if scripts/conformance.sh "$@" | tee "$log"; then
			summary+=("$(tail -n 1 "$log") (on the second run; the first had unexpected results)")
			return
		fi
	fi
	status=1
	summary+=("$(tail -n 1 "$log")")
}
run target "http://localhost:$p_target/mcp"
run gateway-http "http://localhost:${port[gateway-http]}/mcp" --gateway
run gateway-stdio "http://localhost:${port[gateway-stdio]}/mcp" --gateway
run gateway-http-legacy "http://localhost:${port[gateway-http-legacy]}/mcp" --gateway 2026-07-28
run gateway-stdio-legacy "http://localhost:${port[gateway-stdio-legacy]}/mcp" --gateway 2026-07-28
run gateway-http-modern "http://localhost:${port[gateway-http-modern]}/mcp" --gateway 0.1.16-all,2025-11-25
run gateway-stdio-modern "http://localhost:${port[gateway-stdio-modern]}/mcp" --gateway 0.1.16-all,2025-11-25

if [[ $status -ne 0 ]]; then
	for f in "${gateways[@]}"; do
		echo "--- last lines of $f log:"
		tail -n 20 "$work/$f.log" || true
	done
fi
echo
for s in "${summary[@]}"; do echo "$s"; done
exit $status
