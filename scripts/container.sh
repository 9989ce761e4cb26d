#!/usr/bin/env bash
# Builds the wagate container image with Debian's podman on this kind of machine.
# Usage: scripts/container.sh setup          install podman, configure it, make the base image
#        scripts/container.sh build [TAG]    setup, then build the image (default wagate:local)
#        scripts/container.sh size [TAG]     the image's size in bytes
# On a normal Docker host none of this is needed: `docker build -t wagate .` works as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "container: need root (or sudo) to run: $*" >&2; return 1; fi
}

base_tag=debian:bookworm-slim
conf=/etc/containers/containers.conf.d/50-wagate.conf

setup() {
  local missing=()
  for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "container: installing Debian packages: ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # crun refuses this kernel's hybrid cgroup layout; runc runs on it. The default ulimits
  # (nofile raised past the machine's hard limit) make every container fail to start here.
  # A drop-in file: the machine's own containers.conf, if any, is left as it is.
  if [ ! -f "$conf" ]; then
    as_root mkdir -p "$(dirname "$conf")"
    as_root tee "$conf" >/dev/null <<'EOF'
# Written by wagate's scripts/container.sh.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
  fi
  # No image registry is reachable: the Dockerfile's base is made from Debian's own mirror.
  if ! podman image exists "$base_tag"; then
    local mirror root
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d /var/tmp/wagate-rootfs.XXXXXX)
    echo "container: making $base_tag with debootstrap from $mirror" >&2
    as_root debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
    as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    as_root tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base_tag" >&2
    as_root rm -rf "$root"
  fi
}

# pip settings of this machine that a build inside a container can use: an http(s) index
# (a mirror), and the CA bundle pip trusts. file:// indexes and find-links are not visible
# inside the build and are left out.
pip_setting() {
  local env_name=$1 key=$2 value
  value=${!env_name:-}
  [ -n "$value" ] || value=$(pip config get "global.$key" 2>/dev/null || true)
  printf '%s' "$value"
}

build() {
  local tag=${1:-wagate:local} args=() index extra cert
  setup
  index=$(pip_setting PIP_INDEX_URL index-url)
  case "$index" in http://* | https://*) args+=(--build-arg "PIP_INDEX_URL=$index") ;; esac
  extra=$(pip_setting PIP_EXTRA_INDEX_URL extra-index-url)
  extra=$(printf '%s\n' $extra | grep -E '^https?://' | paste -sd' ' || true)
  [ -z "$extra" ] || args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra")
  cert=$(pip_setting PIP_CERT cert)
  cert=${cert:-/etc/ssl/certs/ca-certificates.crt}
  if [ -f "$cert" ]; then
    args+=(--volume "$cert:/run/wagate-build/ca.crt:ro" --build-arg PIP_CERT=/run/wagate-build/ca.crt)
  fi
  podman build --network=host --format docker "${args[@]}" -t "$tag" . >&2
  echo "container: built $tag, $(size "$tag") bytes" >&2
}

size() {
  podman image inspect --format '{{.Size}}' "${1:-wagate:local}"
}

case "${1:-}" in
  setup) setup ;;
  build) build "${2:-wagate:local}" ;;
  size) size "${2:-wagate:local}" ;;
  *) echo "usage: $0 setup | build [TAG] | size [TAG]" >&2; exit 2 ;;
esac
