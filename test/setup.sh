#!/bin/sh
# What the tests need from the host, installed when missing (the one list: .ci/run uses it too).
# Peers used as oracles, and host binaries the test images are built from. Needs root for apt and
# for the tests themselves (overlay mounts, namespaces); says in one line what is missing otherwise.
# Then the unprivileged users the rootless tests run as (test/rootless.ts), made once.
set -eu
packages="busybox-static skopeo umoci podman buildah zstd util-linux attr tar libseccomp-dev docker-registry apache2-utils openssl docker.io libcap2-bin man-db uidmap time fuse-overlayfs iproute2 passt"

# /dev/fuse open to every user (as Debian's udev rule makes it; a host without udev may leave it
# 0600), for fuse-overlayfs in the rootless tests. bale-rootless has subordinate ids (useradd gives
# a new user the next free range; usermod adds one where useradd did not); bale-nosubid has none,
# for the single-id fallback.
users() {
  [ "$(id -u)" = 0 ] || return 0
  if [ -c /dev/fuse ]; then chmod 0666 /dev/fuse; fi
  if ! id bale-rootless >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh bale-rootless
  fi
  if ! grep -q '^bale-rootless:' /etc/subuid 2>/dev/null; then usermod --add-subuids 3000000000-3000065535 bale-rootless; fi
  if ! grep -q '^bale-rootless:' /etc/subgid 2>/dev/null; then usermod --add-subgids 3000000000-3000065535 bale-rootless; fi
  if ! id bale-nosubid >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh bale-nosubid
    sed -i '/^bale-nosubid:/d' /etc/subuid /etc/subgid
  fi
}

# pasta (rootless -p) opens /dev/net/tun as the user: Debian's udev makes it 0666, a system
# without udev (a container, some VMs) may have left it 0600.
tun() {
  [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && chmod 0666 /dev/net/tun
  return 0
}

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && { users; tun; exit 0; }
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test/setup.sh: the tests need root and these Debian packages:$missing (apt-get install -y$missing)" >&2
  exit 1
fi
echo "test/setup.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
users
tun
