#!/usr/bin/env bash
# The release images: builds the release binary (whole-program LTO: about 16 minutes on
# two cores, so CI never runs this; it builds the images with the debug binary), then both
# images with deploy/images/build.sh, and prints their sizes.
#
#   deploy/images/release.sh [--out DIR] [--strip]   (default target/images-release)
#
# Measured on two busy cores: 13 min for the binary (112 MB: the release profile keeps line
# tables for backtraces), then agentpods.tar 32 MB compressed / 117 MB unpacked and
# agent.tar 306 MB / 815 MB. With --strip (22 MB binary, no line numbers in backtraces)
# the service image is about 26 MB unpacked.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$repo/target/images-release"
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out="$2"; shift 2 ;;
    --strip) extra+=(--strip); shift ;;
    *) echo "release.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
cd "$repo"
started=$SECONDS
cargo build --release --locked --bin agentpods
echo "release binary: $((SECONDS - started)) s, $(du -m target/release/agentpods | cut -f1) MB"
deploy/images/build.sh --binary target/release/agentpods --out "$out" "${extra[@]}"
# build.sh prints each archive's size and its root filesystem's unpacked size.
echo "release images in $out after $((SECONDS - started)) s"
