#!/usr/bin/env bash
# Builds the go-ethereum programs the interop tests run, from the version
# pinned in go.mod / go.sum, into tests/geth/.cache/bin (gitignored):
#   devp2p   go-ethereum's cmd/devp2p (discv4/discv5 test suites, rlpx ping, …)
#   geth     go-ethereum's cmd/geth (a real node for examples/eth_status/)
#   harness  ./harness: go-ethereum's p2p.Server driven over JSON lines
# The module and build caches live under .cache too, so nothing is written
# outside the repository. Idempotent: a warm run takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "tests/geth/build.sh: 'go' not found; the go-ethereum interop tests need Go >= 1.26 on PATH" >&2
  exit 1
fi
export GOMODCACHE="$PWD/.cache/gomod"
export GOCACHE="$PWD/.cache/gobuild"
export GOFLAGS="-buildvcs=false -mod=readonly"
export GOTOOLCHAIN=local
mkdir -p .cache/bin
go build -trimpath -o .cache/bin/ \
  github.com/ethereum/go-ethereum/cmd/devp2p \
  github.com/ethereum/go-ethereum/cmd/geth \
  ./harness
