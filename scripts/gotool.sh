#!/usr/bin/env bash
# gotool.sh builds a pinned Go tool the tests drive and prints its path:
#
#   scripts/gotool.sh pebble   # the ACME test CA (app/tls_test.go)
#   scripts/gotool.sh helm     # chart lint and rendering (deploy/helm/test)
#
# Each tool is built from its own module at a pinned version with
# `go install module/cmd@version`, so its dependencies never enter
# mcpfort's go.mod. The binary goes to a per-user cache
# (${XDG_CACHE_HOME:-~/.cache}/mcpfort/tools/NAME-VERSION) that outlives a
# clone: the first build downloads and compiles (helm: a few minutes on two
# cores), later runs print the path at once. Everything except the path
# goes to stderr; a tool that cannot be built is an error, never a skip.
set -euo pipefail

case "${1:-}" in
pebble) pkg="github.com/letsencrypt/pebble/v2/cmd/pebble" version="v2.10.3" ;;
helm) pkg="helm.sh/helm/v3/cmd/helm" version="v3.22.0" ;;
*)
	echo "usage: gotool.sh pebble|helm" >&2
	exit 2
	;;
esac
name="$1"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/mcpfort/tools"
bin="$cache/$name-$version"
if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "gotool.sh: building $pkg@$version (once)" >&2
# pkg@version builds in the tool's own module, whatever the current
# directory: its go.mod decides its dependencies.
if ! (cd "$tmp" && GOBIN="$tmp/bin" nice go install "$pkg@$version" >&2); then
	echo "gotool.sh: cannot build $pkg@$version (is the Go module proxy reachable?)" >&2
	exit 1
fi
mv "$tmp/bin/$name" "$bin"
echo "$bin"
