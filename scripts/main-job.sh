#!/usr/bin/env bash
# Installs signet and runs its main job end to end on this machine.
# Today: offline verification of a real public-good Sigstore bundle with the
# embedded trust root, and a rejection of a tampered one.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo install --locked --path crates/cli --root "${SIGNET_ROOT:-$HOME/.local}"
SIGNET="${SIGNET_ROOT:-$HOME/.local}/bin/signet"

CASES=testdata/conformance/bundle-verify
ID=https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main
ISSUER=https://token.actions.githubusercontent.com

echo "== verify a public-good bundle (embedded trust root, offline)"
"$SIGNET" verify-blob testdata/conformance/a.txt \
  --bundle "$CASES/happy-path-v0.3/bundle.sigstore.json" \
  --certificate-identity "$ID" --certificate-oidc-issuer "$ISSUER" --offline

echo "== the same bundle against a tampered artifact must fail"
tampered=$(mktemp)
printf 'not the signed file\n' > "$tampered"
if "$SIGNET" verify-blob "$tampered" \
  --bundle "$CASES/happy-path-v0.3/bundle.sigstore.json" \
  --certificate-identity "$ID" --certificate-oidc-issuer "$ISSUER" --offline; then
  echo "tampered artifact was accepted" >&2; exit 1
fi
rm -f "$tampered"
echo "main job OK"
