#!/usr/bin/env bash
# jaeger.sh builds the pinned Jaeger all-in-one binary from its Go module
# into the user's cache directory (${XDG_CACHE_HOME:-~/.cache}/mcpfort/jaeger/,
# shared by every clone on the machine) once, then only prints its path, so the
# tracing tests can run a real trace backend:
#
#   JAEGER="$(scripts/jaeger.sh)"
#
# The build happens in a throwaway module, so Jaeger's dependencies never
# enter mcpfort's go.mod; the Go build cache keeps later builds quick.
# Everything except the final path goes to stderr.
set -euo pipefail

JAEGER_VERSION="v1.76.0"

dest="${XDG_CACHE_HOME:-$HOME/.cache}/mcpfort/jaeger/$JAEGER_VERSION"
bin="$dest/jaeger"

if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dest"
tmp="$(mktemp -d "$dest/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
(
	cd "$tmp"
	export GOWORK=off GOFLAGS=-mod=mod
	go mod init mcpfort.local/jaegerbuild >&2 2>/dev/null
	go get "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" >&2
	go build -trimpath -ldflags="-s -w" -o "$tmp/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger >&2
)
mv "$tmp/jaeger" "$bin"
echo "$bin"
