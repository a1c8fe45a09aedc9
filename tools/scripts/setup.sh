#!/usr/bin/env bash
# Installs what Tapwire needs on a fresh Debian/Ubuntu machine (run as root), and nothing twice:
# system packages whose commands are missing, then npm dependencies when the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

# command → Debian package. Test peers included: `npm test` must pass on a fresh machine.
declare -A NEED=(
  [pcap-config]=libpcap-dev
  [nats-server]=nats-server
  [tshark]=tshark
  [capinfos]=wireshark-common
  [tcpdump]=tcpdump
  [curl]=curl
  [ip]=iproute2
  [make]=make
  [g++]=g++
  [python3]=python3
  [/usr/bin/time]=time
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [psql]=postgresql-client
  [pg_ctlcluster]=postgresql
  [mariadbd]=mariadb-server
  [mariadb]=mariadb-client
  [dnsmasq]=dnsmasq-base
  [dig]=dnsutils
  [openssl]=openssl
  [setpriv]=util-linux
  [rabbitmq-server]=rabbitmq-server
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${NEED[$cmd]}")
done
# Some commands live outside PATH for non-login shells; check the package itself too.
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for p in $(printf '%s\n' "${missing[@]}" | sort -u); do
    dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p")
  done
  if [ ${#pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "setup: missing packages: ${pkgs[*]} (run as root, or install them)" >&2
      exit 1
    fi
    echo "setup: installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    # Keep package scripts from starting services (redis, postgresql, mariadb, rabbitmq) on their default
    # ports: the tests start their own servers on free ports.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_created=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
fi

# npm dependencies: install when node_modules is missing or older than the lock file.
stamp=node_modules/.tapwire-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# The cap binding with our patch (kernel drop counters, TPACKET_V3): `npm ci` applies it through the
# root postinstall; this catches a node_modules installed before the patch existed. A no-op when done.
node tools/scripts/patch-cap.mjs
