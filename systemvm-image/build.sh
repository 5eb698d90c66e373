#!/usr/bin/env bash
# Builds the system VM image from this checkout's built tree (`make image` runs it after
# `make build`):
#
#   systemvm-image/build.sh [OUT]      OUT defaults to build/image
#
# Output in OUT: rootfs.ext4 (the root file system, partition-less: boot it with vmlinuz and
# initrd.img and root=/dev/vda), vmlinuz, initrd.img, and with QCOW2=1 systemvm.qcow2 (the same
# file system, compressed: the template to ship).
#
# Two stages:
#   1. the Debian root file system (debootstrap, the packages below), cached in
#      $SYSTEMVM_IMAGE_CACHE (default /var/cache/systemvm-image) under a key of everything that
#      makes it, so it is built once per machine (~90 s) and reused;
#   2. the appliance on a copy of it: Node 20 (this machine's binary), the bundles and native
#      addons, the units and configs of appliance/, the system settings; then the file system
#      image. Seconds.
# Nothing is committed: OUT is under build/, ignored by git.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build/image}
CACHE=${SYSTEMVM_IMAGE_CACHE:-/var/cache/systemvm-image}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FS_SIZE=${FS_SIZE:-1200M}
PACKAGES=(
  linux-image-cloud-amd64 systemd-sysv udev kmod libstdc++6
  iproute2 iptables ipset conntrack procps netbase
  nfs-common haproxy qemu-guest-agent openssh-server
  ca-certificates curl openssl xz-utils bzip2 unzip
)

log() { printf '[image] %s\n' "$*" >&2; }

# --- stage 1: the Debian root file system -------------------------------------------------
stage1() {
  # stage1-begin (this text is part of the cache key)
  local tmp=$1
  debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" "$SUITE" "$tmp" "$MIRROR" >&2
  chroot "$tmp" apt-get clean
  rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/locale/* "$tmp"/usr/share/info/*
  # Host keys are made per VM at its first boot (systemvm-boot.service), never shipped.
  rm -f "$tmp"/etc/ssh/ssh_host_*
  # stage1-end
}
KEY=$( { printf '%s\n' "$SUITE" "$MIRROR" "${PACKAGES[@]}"; sed -n '/^  # stage1-begin/,/^  # stage1-end/p' "$0"; } | sha256sum | cut -c1-16)
BASE=$CACHE/rootfs-$KEY
if [ ! -d "$BASE" ]; then
  log "building the Debian root file system (cached as $BASE)"
  mkdir -p "$CACHE"
  tmp=$CACHE/.rootfs-$KEY.$$
  rm -rf "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  stage1 "$tmp"
  mv "$tmp" "$BASE"
  trap - EXIT
else
  log "reusing $BASE"
fi

# --- stage 2: the appliance ---------------------------------------------------------------
for f in dist/routerd.mjs dist/storaged.mjs dist/systemvm-boot.mjs native/udp-batch/build/Release/udp_batch.node; do
  [ -f "$ROOT/$f" ] || { log "$f is missing: run make build first"; exit 1; }
done
STAGE=$OUT/rootfs
rm -rf "$STAGE"
mkdir -p "$OUT"
cp -a "$BASE" "$STAGE"

NODE=$(readlink -f "$(command -v node)")
case "$("$NODE" --version)" in v20.*) ;; *) log "node 20 is needed, $NODE is $("$NODE" --version)"; exit 1 ;; esac
install -m 0755 "$NODE" "$STAGE/usr/bin/node"

APP=$STAGE/opt/systemvm
install -d "$APP/dist" "$APP/appliance" "$APP/native/udp-batch/build/Release" "$APP/node_modules"
install -m 0644 "$ROOT"/dist/routerd.mjs "$ROOT"/dist/storaged.mjs "$ROOT"/dist/systemvm-boot.mjs "$APP/dist/"
install -m 0644 "$ROOT"/native/udp-batch/build/Release/udp_batch.node "$APP/native/udp-batch/build/Release/"
install -m 0644 "$ROOT"/appliance/routerd-ready.mjs "$APP/appliance/"
# sockopt (resolved at run time, not bundled) and the loader it needs, with their prebuilt binaries.
cp -a "$ROOT"/node_modules/sockopt "$ROOT"/node_modules/node-gyp-build "$APP/node_modules/"

install -d "$STAGE/etc/systemvm"
install -m 0644 "$ROOT"/appliance/routerd.service "$ROOT"/appliance/storaged.service "$ROOT"/appliance/systemvm-boot.service "$STAGE/etc/systemd/system/"
cp -a "$ROOT"/systemvm-image/rootfs/. "$STAGE/"
chroot "$STAGE" systemctl enable systemvm-boot.service routerd.service storaged.service >/dev/null 2>&1
# No networking of Debian's own: the links are routerd's (or systemvm-boot's on the storage VM).
chroot "$STAGE" systemctl mask systemd-networkd.service networking.service >/dev/null 2>&1 || true
# routerd runs its own HAProxy (master-worker, its config); the console is the serial line only.
chroot "$STAGE" systemctl mask haproxy.service getty@.service getty-static.service >/dev/null

VERSION=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
BUILT=$(git -C "$ROOT" log -1 --format=%cd --date=format:'%a %b %d %H:%M:%S UTC %Y' 2>/dev/null || date -u)
# CloudStack's get_template_version.sh reads the version from the third word of this line.
printf 'Cloudstack Release %s %s\n' "$VERSION" "$BUILT" > "$STAGE/etc/cloudstack-release"
printf 'systemvm\n' > "$STAGE/etc/hostname"
printf '/dev/vda\t/\text4\tdefaults,noatime\t0\t1\n' > "$STAGE/etc/fstab"

log "making the file system ($FS_SIZE)"
rm -f "$OUT/rootfs.ext4"
mkfs.ext4 -q -F -L systemvm -d "$STAGE" "$OUT/rootfs.ext4" "$FS_SIZE"
cp "$(ls "$STAGE"/boot/vmlinuz-* | tail -1)" "$OUT/vmlinuz"
cp "$(ls "$STAGE"/boot/initrd.img-* | tail -1)" "$OUT/initrd.img"
if [ "${QCOW2:-0}" = 1 ]; then
  log "compressing systemvm.qcow2"
  rm -f "$OUT/systemvm.qcow2"
  qemu-img convert -c -O qcow2 "$OUT/rootfs.ext4" "$OUT/systemvm.qcow2"
fi
rm -rf "$STAGE"
log "done: $(cd "$OUT" && ls)"
