#!/usr/bin/env bash
# The release images: builds the release binary (whole-program LTO: about 16 minutes on
# two cores, so CI never runs this; it builds the images with the debug binary), then both
# images with deploy/images/build.sh, and prints their sizes.
#
#   deploy/images/release.sh [--out DIR]     (default target/images-release)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$repo/target/images-release"
if [ "${1:-}" = "--out" ]; then
    out="$2"
fi
cd "$repo"
started=$SECONDS
cargo build --release --locked --bin agentpods
echo "release binary: $((SECONDS - started)) s, $(du -m target/release/agentpods | cut -f1) MB"
deploy/images/build.sh --binary target/release/agentpods --out "$out"
# build.sh prints each archive's size and its root filesystem's unpacked size.
echo "release images in $out after $((SECONDS - started)) s"
