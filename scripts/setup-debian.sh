#!/bin/sh
# Install the Debian packages listed in scripts/debian-packages.txt that are missing (idempotent).
# When another apt or dpkg holds the package locks (unattended-upgrades, a second setup), wait for it, up to
# APT_LOCK_TIMEOUT seconds (default 600), instead of failing at once.
set -eu
here=$(dirname "$0")
timeout=${APT_LOCK_TIMEOUT:-600}
step=${APT_LOCK_POLL:-5}
pkgs=$(grep -v '^#' "$here/debian-packages.txt" | tr -s ' \n' ' ')
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "debian packages: all present"; exit 0; }
echo "debian packages: installing$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# Run an apt command; while it fails because another process holds the dpkg/apt lock, retry until the timeout.
apt_waiting() {
  start=$(date +%s)
  log=$(mktemp)
  while :; do
    if $SUDO "$@" -o DPkg::Lock::Timeout="$timeout" 2>"$log"; then
      cat "$log" >&2; rm -f "$log"; return 0
    fi
    if ! grep -qiE 'could not get lock|unable to (acquire|lock)|is another process using it' "$log"; then
      cat "$log" >&2; rm -f "$log"; return 1
    fi
    if [ $(( $(date +%s) - start )) -ge "$timeout" ]; then
      cat "$log" >&2; rm -f "$log"
      echo "debian packages: another apt/dpkg still holds the lock after ${timeout}s (APT_LOCK_TIMEOUT); try again later" >&2
      return 1
    fi
    echo "debian packages: waiting for another apt/dpkg to finish..." >&2
    sleep "$step"
  done
}

apt_waiting apt-get update -qq || echo "debian packages: apt-get update failed; installing from the current lists" >&2
apt_waiting apt-get install -y -qq --no-install-recommends $missing
