#!/usr/bin/env bash
# Prepares this host for contid's demo and tests: Debian packages, a running auditd, and an
# audit backlog big enough for bursts. Idempotent and quick when everything is in place.
# Each engine's own daemon (dockerd, LXC containers, a systemd tree) is started by its test set-up.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "setup-host: run as root (contid tags on the real kernel audit subsystem)" >&2; exit 1; }

# --- packages ---------------------------------------------------------------------------
PACKAGES=(auditd gcc libc6-dev audispd-plugins libaudit1 libauparse0 busybox-static docker.io runc lxc lxc-templates debootstrap systemd-container util-linux e2fsprogs iproute2 hyperfine python3 chromium fonts-dejavu-core podman crun containerd docker-compose libcap2-bin)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# kubectl validates the Kubernetes manifests; some images ship it outside Debian's package.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- auditd -----------------------------------------------------------------------------
# Debian rotates at 8 MB: a test run writes that in a minute and tests would chase records
# into audit.log.N. 256 MB x 5 keeps a whole run in reach (ausearch reads the rotations too).
conf=/etc/audit/auditd.conf
if ! grep -q '^max_log_file = 256$' "$conf"; then
  sed -i 's/^max_log_file = .*/max_log_file = 256/' "$conf"
  pgrep -x auditd >/dev/null && kill -HUP "$(pgrep -x auditd | head -1)"
fi
mkdir -p /var/log/audit
if ! pgrep -x auditd >/dev/null; then
  auditd
  for _ in $(seq 50); do pgrep -x auditd >/dev/null && [ -s /var/log/audit/audit.log ] && break; sleep 0.1; done
fi
auditctl -e 1 >/dev/null
auditctl -b 8192 >/dev/null
auditctl --backlog_wait_time 60000 >/dev/null 2>&1 || true

# --- the compiled runtime shim --------------------------------------------------------------
# contid-runc-fast (integrations/docker/contid-runc.c), built with the distro's cc beside the sh
# shim it hands its other cases to; rebuilt only when the source is newer.
"$(dirname "$0")/build-shim.sh"
# contid-lxc-fast (integrations/lxc/contid-lxc.c), contid lxc start's recorded start compiled,
# beside the sh contid-lxc it hands its other cases to.
"$(dirname "$0")/build-lxc-fast.sh"

echo "setup-host: ready (auditd pid $(pgrep -x auditd | head -1))"
