#!/usr/bin/env bash
# The release images: builds the release binary (whole-program LTO: about 16 minutes on
# two cores, so CI never runs this; it builds the images with the debug binary), then both
# images with deploy/images/build.sh, and prints their sizes.
#
#   deploy/images/release.sh [--out DIR] [--strip-debug | --keep-line-tables]
#   deploy/images/release.sh --help
#
# --out      where agentpods.tar and agent.tar go (default target/images-release)
# --strip-debug       keep the symbols, strip the line tables (`build.sh --strip-debug`)
# --keep-line-tables  ship the binary as cargo built it (`build.sh` without a strip flag)
# --help     print this and exit
#
# Needs what deploy/images/build.sh needs (root, mmdebstrap, umoci, skopeo) and cargo.
#
# The images ship the binary stripped (`strip --strip-all`: 22 MB instead of 112 MB with
# the release profile's line tables). That is what keeps the service image under 40 MB and
# the agent image under 600 MB (docs/setup.md). A panic still says where it happened (its
# file:line:column is in the binary itself, not in the line tables); what is lost is the
# function names and lines of a RUST_BACKTRACE=1 backtrace, which the shipped manifests
# never ask for (`build.sh --strip`). --strip-debug keeps the symbols (backtraces name each
# function; a few MB more), --keep-line-tables ships the binary as cargo built it (about
# 90 MB more in each image), for a build you mean to debug.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$repo/target/images-release"
strip=(--strip)
# --help: this file's header, without the comment marks.
usage() { sed -n '2,/^set -euo pipefail/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out="$2"; shift 2 ;;
    --strip-debug) strip=(--strip-debug); shift ;;
    --keep-line-tables) strip=(); shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "release.sh: unknown argument $1 (--help lists them)" >&2; exit 2 ;;
    esac
done
cd "$repo"
started=$SECONDS
cargo build --release --locked --bin agentpods
binary=target/release/agentpods
echo "release binary: $((SECONDS - started)) s, $(du -m "$binary" | cut -f1) MB as built"
deploy/images/build.sh --binary "$binary" --out "$out" "${strip[@]}"
# build.sh prints each archive's size and its root filesystem's unpacked size.
echo "release images in $out after $((SECONDS - started)) s"
