#!/usr/bin/env bash
# Installs signet and runs its main job end to end on this machine:
# start a private Sigstore stack (`signet up`: transparency log, keyless CA,
# DEV ONLY OIDC issuer) in the background, get a dev identity token, sign a
# file keyless, verify it, show a tampered file being rejected, stop the
# stack.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo install --locked --path crates/cli --root "${SIGNET_ROOT:-$HOME/.local}"
SIGNET="${SIGNET_ROOT:-$HOME/.local}/bin/signet"

work=$(mktemp -d)
stack_pid=
cleanup() {
  if [ -n "$stack_pid" ] && kill -0 "$stack_pid" 2>/dev/null; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== start the stack (signet up, ephemeral ports, data in $work/stack)"
"$SIGNET" up --data-dir "$work/stack" --log-port 0 --ca-port 0 --oidc-port 0 \
  --ready-file "$work/ready.json" >"$work/up.out" 2>"$work/up.err" &
stack_pid=$!
for _ in $(seq 1 600); do
  [ -s "$work/ready.json" ] && break
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    cat "$work/up.err" >&2; echo "signet up exited" >&2; exit 1
  fi
  sleep 0.1
done
[ -s "$work/ready.json" ] || { cat "$work/up.err" >&2; echo "signet up did not get ready" >&2; exit 1; }
cat "$work/up.out"

# One "key": "value" per line in the ready file.
ready() { sed -n "s/^ *\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" "$work/ready.json"; }
OIDC=$(ready oidcUrl)
TRUST_CONFIG=$(ready trustConfig)
TRUSTED_ROOT=$(ready trustedRoot)
IDENTITY=alice@example.com

echo "== get a dev identity token for $IDENTITY"
TOKEN=$("$SIGNET" dev token --issuer "$OIDC" --email "$IDENTITY")

echo "== sign a file keyless (certificate from the stack's CA, entry in its log)"
printf 'release artifact\n' >"$work/artifact.txt"
"$SIGNET" sign-blob "$work/artifact.txt" --bundle "$work/artifact.sigstore.json" \
  --identity-token "$TOKEN" --trust-config "$TRUST_CONFIG"

echo "== verify it against the stack's trusted root"
"$SIGNET" verify-blob "$work/artifact.txt" --bundle "$work/artifact.sigstore.json" \
  --trusted-root "$TRUSTED_ROOT" \
  --certificate-identity "$IDENTITY" --certificate-oidc-issuer "$OIDC"

echo "== the same bundle against a tampered file must fail"
printf 'tampered artifact\n' >"$work/tampered.txt"
if "$SIGNET" verify-blob "$work/tampered.txt" --bundle "$work/artifact.sigstore.json" \
  --trusted-root "$TRUSTED_ROOT" \
  --certificate-identity "$IDENTITY" --certificate-oidc-issuer "$OIDC"; then
  echo "tampered artifact was accepted" >&2; exit 1
fi

echo "== stop the stack"
kill -TERM "$stack_pid"
wait "$stack_pid"
stack_pid=
echo "main job OK"
