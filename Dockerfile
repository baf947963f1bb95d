# syntax=docker/dockerfile:1
#
# mcpfort images (BuildKit):
#
#   docker build -t mcpfort .                     # static: distroless, non-root, for HTTP upstreams
#   docker build --target runtimes -t mcpfort:runtimes .   # with Node.js and Python for stdio upstreams
#
# Both run as uid 65532 and start `mcpfort serve --config /etc/mcpfort/mcpfort.yaml`
# (mount the configuration there). The static image has no shell.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# A static binary: pure-Go SQLite and no cgo, so it runs on an empty base.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/mcpfort ./cmd/mcpfort

# runtimes: for stdio servers started with npx or uvx/python. Debian slim
# with Node.js 22 and Python 3; the user's home is /tmp so that npm and uv
# caches land on the writable emptyDir when the root file system is
# read-only.
FROM node:22-bookworm-slim AS runtimes
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/mcpfort /usr/local/bin/mcpfort
ENV HOME=/tmp NPM_CONFIG_CACHE=/tmp/.npm
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/mcpfort"]
CMD ["serve", "--config", "/etc/mcpfort/mcpfort.yaml"]

# static (the default target): CA certificates, tzdata, /tmp and the
# nonroot user (65532), nothing else.
FROM gcr.io/distroless/static-debian12:nonroot AS static
COPY --from=build /out/mcpfort /mcpfort
USER 65532:65532
ENTRYPOINT ["/mcpfort"]
CMD ["serve", "--config", "/etc/mcpfort/mcpfort.yaml"]
