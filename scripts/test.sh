#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs the peers
# the tests talk to, exports where they are, then cargo test.
#
# Peers (each installed only when missing or at another version, under
# target/peers/):
#   sigstore-python  target/peers/venv           SIGNET_PEER_SIGSTORE_PYTHON
#   sigstore-js      target/peers/node           SIGNET_PEER_NODE_DIR
#                    (@sigstore/verify, @sigstore/cli, pinned by
#                     scripts/peers/node/package-lock.json)
#   docker-registry, skopeo, htpasswd   from Debian (apt-get), on PATH
#   postgresql       /usr/lib/postgresql/*/bin (Debian's postgresql)
#   openssl          from Debian, on PATH (crates/tsa/tests: `openssl ts`)
#   softhsm2, opensc /usr/lib/softhsm/libsofthsm2.so, softhsm2-util,
#                    pkcs11-tool (Debian's), for the PKCS#11 CA and
#                    signing key tests
#   moto (server)    target/peers/moto           SIGNET_PEER_MOTO
#                    (AWS KMS for the awskms:// signing key test)
# SIGNET_SKIP_PEERS=1 skips the installs and the interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS="$PWD/target/peers"

# apt-get on a fresh machine needs its package lists first; fetch them once.
APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    apt-get update >/dev/null
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null
}
SIGSTORE_PYTHON_VERSION=4.5.1

install_sigstore_python() {
  local venv="$PEERS/venv"
  if "$venv/bin/sigstore" --version 2>/dev/null | grep -qx "sigstore $SIGSTORE_PYTHON_VERSION"; then
    return
  fi
  echo "== installing sigstore-python $SIGSTORE_PYTHON_VERSION into $venv"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3-venv
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "sigstore==$SIGSTORE_PYTHON_VERSION"
}

MOTO_VERSION=5.2.5

install_moto() {
  # crates/cli/tests/key_custody.rs: AWS KMS as moto's server speaks it.
  local venv="$PEERS/moto"
  if [ -x "$venv/bin/moto_server" ] && [ "$("$venv/bin/python" -c \
    'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ]; then
    return
  fi
  echo "== installing moto[server] $MOTO_VERSION into $venv"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3-venv
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

install_sigstore_js() {
  local dir="$PEERS/node"
  if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    apt_install nodejs npm
  fi
  # Installed already from this very lock file?
  if cmp -s scripts/peers/node/package-lock.json "$dir/.installed-lock.json" \
    && [ -f "$dir/node_modules/@sigstore/verify/package.json" ] \
    && [ -f "$dir/node_modules/@sigstore/cli/package.json" ]; then
    return
  fi
  echo "== installing @sigstore/verify and @sigstore/cli into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp scripts/peers/node/package.json scripts/peers/node/package-lock.json "$dir/"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
  cp scripts/peers/node/package-lock.json "$dir/.installed-lock.json"
}

install_registry_peers() {
  # crates/cli/tests/oci.rs: a real registry (distribution 2.8, no
  # referrers API), skopeo to push test images, htpasswd for basic auth.
  if command -v docker-registry >/dev/null && command -v skopeo >/dev/null \
    && command -v htpasswd >/dev/null; then
    return
  fi
  echo "== installing docker-registry, skopeo, apache2-utils"
  apt_install docker-registry skopeo apache2-utils
}

install_postgresql() {
  # crates/log/tests/postgres.rs: a private cluster per test (initdb,
  # pg_ctl as `nobody` on 127.0.0.1); no system service is started.
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    return
  fi
  echo "== installing postgresql"
  apt_install postgresql
}

install_softhsm() {
  # crates/ca/tests/pkcs11.rs: the CA key in a SoftHSM2 token (a private
  # token directory per test), made with softhsm2-util and pkcs11-tool.
  if [ -f /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null \
    && command -v pkcs11-tool >/dev/null; then
    return
  fi
  echo "== installing softhsm2, opensc"
  apt_install softhsm2 opensc
}

install_openssl() {
  # crates/tsa/tests/server.rs: `openssl ts -reply/-verify` as a peer.
  if command -v openssl >/dev/null; then
    return
  fi
  echo "== installing openssl"
  apt_install openssl
}

if [ "${SIGNET_SKIP_PEERS:-}" != 1 ]; then
  mkdir -p "$PEERS"
  install_postgresql
  install_openssl
  install_softhsm
  install_sigstore_python
  install_moto
  install_sigstore_js
  install_registry_peers
  export SIGNET_PEER_SIGSTORE_PYTHON="$PEERS/venv/bin/sigstore"
  export SIGNET_PEER_NODE_DIR="$PEERS/node"
  export SIGNET_PEER_MOTO="$PEERS/moto/bin/moto_server"
fi

cargo test --workspace --all-targets --no-fail-fast "$@"
# Doc tests are not part of --all-targets.
cargo test --workspace --doc
