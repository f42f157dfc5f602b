#!/usr/bin/env bash
# Installs every Debian 12 package DirSync's build, tests, benchmarks and demo
# need. Idempotent; run as root.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git python3
  libpoco-dev libyaml-cpp-dev libboost-dev libboost-filesystem-dev libspdlog-dev libfmt-dev
  catch2 libsqlite3-dev sqlite3 libsimdjson-dev libssl-dev
  libldap2-dev slapd ldap-utils
  clang libclang-rt-14-dev libc++-14-dev libc++abi-14-dev
  time openssl
)
# Node.js runs tests/scim-app-server, the independent SCIM server the REST sink is tested
# against. Debian's nodejs and npm only when node or npm is missing: a Node.js from elsewhere
# (NodeSource's bundles npm) conflicts with Debian's npm package.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The SCIM app server's npm packages, as pinned by its package-lock.json; again only when the
# lock changed since the last install (the stamp is a copy of the lock it installed).
scim_app="$(cd "$(dirname "$0")/.." && pwd)/tests/scim-app-server"
if ! cmp -s "$scim_app/package-lock.json" "$scim_app/node_modules/.installed-package-lock.json"; then
  npm ci --prefix "$scim_app" --no-audit --no-fund
  cp "$scim_app/package-lock.json" "$scim_app/node_modules/.installed-package-lock.json"
fi
# Tests start their own slapd on loopback; the packaged service is not needed.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now slapd >/dev/null 2>&1 || true; fi
echo "dependencies installed"
