#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe) from bookworm-backports when this machine
# has no WebGPU adapter. Debian 12's own Mesa 22 is refused by Dawn's Vulkan backend
# ("Vulkan shaderUniform*ArrayDynamicIndexing required"); Mesa 25 from backports works.
# Safe to run again: it does nothing when lavapipe >= 23 is already installed.
set -euo pipefail
have_new_mesa() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 23 && dpkg-query -W libvulkan1 >/dev/null 2>&1
}
if have_new_mesa; then exit 0; fi
cmd_text='see README "Set-up": as root on Debian 12, add bookworm-backports and run
  apt-get install -y --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1'
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "lbd-gpu: no software Vulkan driver and not root with apt; $cmd_text" >&2
  exit 1
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  src=/etc/apt/sources.list.d/debian-backports.sources
  if [ ! -f "$src" ]; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$src"
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1
else
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mesa-vulkan-drivers libvulkan1
fi
