#!/usr/bin/env bash
# Measures `signet admission serve` with `signet bench admission` on this
# machine: a local docker-registry holding N key-signed images, a private
# Sigstore stack (`signet up`), a test CA (openssl), and the webhook run
# twice: with its caches (one image, cached) and with --cache-ttl 0
# --resolve-ttl 0 (every request resolves the tag and verifies against the
# registry; the requests cycle through the N images).
#
#   bash crates/gate/bench/admission.sh [RATE_CACHED] [RATE_UNCACHED...]
#
# Needs docker-registry, skopeo (Debian) and openssl; uses
# target/release/signet (cargo build --release -p signet-cli). Loopback
# only; everything it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SIGNET="$PWD/target/release/signet"
RATE_CACHED="${1:-2000}"
shift || true
RATES_UNCACHED=("${@:-100 200}")
DURATION="${DURATION:-10s}"
IMAGES="${IMAGES:-20}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { for _ in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; exit 1; }

# Registry.
REG_PORT=$(free_port)
REG="127.0.0.1:$REG_PORT"
mkdir -p "$WORK/storage"
cat > "$WORK/registry.yml" <<EOF
version: 0.1
log: {level: ${REGISTRY_LOG:-error}}
storage: {filesystem: {rootdirectory: $WORK/storage}}
http: {addr: $REG}
EOF
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -fs "http://$REG/v2/" >/dev/null && break; sleep 0.1; done

# Images: N OCI layouts pushed with skopeo.
python3 - "$WORK/layouts" "$IMAGES" <<'EOF'
import hashlib, io, json, os, sys, tarfile
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"app{i}")
    blobs = os.path.join(d, "blobs", "sha256"); os.makedirs(blobs)
    def put(b):
        h = hashlib.sha256(b).hexdigest()
        open(os.path.join(blobs, h), "wb").write(b)
        return {"digest": "sha256:" + h, "size": len(b)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = f"bench image {i}\n".encode()
        info = tarfile.TarInfo("hello.txt"); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    layer = put(buf.getvalue())
    config = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}, "config": {}}).encode())
    manifest = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **config),
        "layers": [dict(mediaType="application/vnd.oci.image.layer.v1.tar", **layer)]}).encode())
    json.dump({"schemaVersion": 2, "manifests": [dict(mediaType="application/vnd.oci.image.manifest.v1+json",
        annotations={"org.opencontainers.image.ref.name": "1"}, **manifest)]}, open(os.path.join(d, "index.json"), "w"))
    open(os.path.join(d, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
EOF
for i in $(seq 0 $((IMAGES - 1))); do
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$WORK/layouts/app$i:1" "docker://$REG/bench/app$i:1"
done

# A private stack, a key, and every image signed.
"$SIGNET" up --data-dir "$WORK/stack" --ready-file "$WORK/up.json" --log-port 0 --ca-port 0 --oidc-port 0 > "$WORK/up.log" 2>&1 &
PIDS+=($!)
wait_file "$WORK/up.json"
ROOT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trustedRoot"])' "$WORK/up.json")
SC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signingConfig"])' "$WORK/up.json")
export COSIGN_PASSWORD=bench SIGNET_OFFLINE=1 DOCKER_CONFIG="$WORK/docker"
mkdir -p "$DOCKER_CONFIG"
(cd "$WORK" && "$SIGNET" generate-key-pair --output-key-prefix k >/dev/null 2>&1)
IMAGE_ARGS=()
for i in $(seq 0 $((IMAGES - 1))); do
  "$SIGNET" sign "$REG/bench/app$i:1" --key "$WORK/k.key" --trusted-root "$ROOT" --signing-config "$SC" >/dev/null 2>&1
  IMAGE_ARGS+=(--image "$REG/bench/app$i:1")
done

# TLS: a CA and a certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
  -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$WORK/san.ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 1 -extfile "$WORK/san.ext" -out "$WORK/tls.pem" 2>/dev/null

cat > "$WORK/policy.yaml" <<EOF
apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {name: bench}
spec:
  rules:
  - name: bench
    images: ["$REG/bench/*"]
    authorities:
    - name: ci
      key: {path: k.pub}
EOF

serve() {
  rm -f "$WORK/hook.json"
  "$SIGNET" admission serve --listen 127.0.0.1:0 --policy "$WORK/policy.yaml" \
    --tls-cert "$WORK/tls.pem" --tls-key "$WORK/tls.key" --trusted-root "$ROOT" \
    --ready-file "$WORK/hook.json" "$@" >> "$WORK/hook.log" 2>&1 &
  HOOK_PID=$!
  PIDS+=($HOOK_PID)
  wait_file "$WORK/hook.json"
  URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$WORK/hook.json")
}

echo "== cached: one image, $RATE_CACHED req/s for $DURATION"
serve
"$SIGNET" bench admission --url "$URL/validate" --cacert "$WORK/ca.pem" --rate "$RATE_CACHED" \
  --duration "$DURATION" --image "$REG/bench/app0:1"
kill "$HOOK_PID"; wait "$HOOK_PID" 2>/dev/null || true

for rate in ${RATES_UNCACHED[@]}; do
  echo "== uncached: $IMAGES images, caches off, $rate req/s for $DURATION"
  serve --cache-ttl 0 --resolve-ttl 0
  "$SIGNET" bench admission --url "$URL/validate" --cacert "$WORK/ca.pem" --rate "$rate" \
    --duration "$DURATION" --uncached "${IMAGE_ARGS[@]}"
  kill "$HOOK_PID"; wait "$HOOK_PID" 2>/dev/null || true
done
