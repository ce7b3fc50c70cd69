#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, pg_ctl, postgres) are on
# this machine: the test harness and `gatehouse dev` start private clusters
# with them. Installs Debian's package when run as root on Debian/Ubuntu;
# otherwise says exactly what to install.
set -euo pipefail

have() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null 2>&1
}

if have; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries not found; installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  # The package may start a cluster of its own; gatehouse never uses it.
  have && exit 0
fi
cat >&2 <<'MSG'
PostgreSQL's server binaries (initdb, pg_ctl, postgres) are needed and were not found
on PATH or under /usr/lib/postgresql/*/bin.
Install them, for example:
  Debian/Ubuntu: sudo apt-get install -y postgresql
  Fedora/RHEL:   sudo dnf install -y postgresql-server
  macOS:         brew install postgresql@15
MSG
exit 1
