#!/usr/bin/env bash
# Build the server and edge images with podman on a Debian base bootstrapped from Debian packages
# (no container registry is needed), then run the server image against the local PostgreSQL:
# migrate, serve, /healthz, /readyz, the dashboard, a login and an API call, the image's own
# HEALTHCHECK and its non-root user. `make image-test`; not part of CI (several minutes, root).
#
#   KEEP_IMAGES=1   keep the built images (the base image is always kept: it is reused)
#   PG_URL=...      owner URL of a PostgreSQL server (default: postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/../../.."

BASE=localhost/appliance-base:bookworm
IMAGE=localhost/appliance:image-test
EDGE_IMAGE=localhost/appliance-edge:image-test
PG_URL=${PG_URL:-postgresql://postgres@127.0.0.1:5432}
DB=appliance_image_test_$$
PORT=${PORT:-18089}
NAME=appliance-image-test-$$
MODELS=${APPLIANCE_MODELS_DIR:-$(realpath ../shared/models)}
WORK=$(mktemp -d /var/tmp/appliance-image.XXXXXX)

step() { printf '\n== %s\n' "$*"; }

# Sandboxes like this one refuse setrlimit in a container's init and run hybrid cgroups that crun
# rejects: containers run under runc through a wrapper that drops the spec's rlimits.
mkdir -p "$WORK/oci"
cat >"$WORK/oci/runc" <<'WRAPPER'
#!/bin/sh
spec=""; prev=""
for arg in "$@"; do
  [ "$prev" = "--bundle" ] && spec="$arg/config.json"
  [ "$prev" = "--process" ] && spec="$arg"   # podman exec (and the HEALTHCHECK) pass a process spec
  case "$arg" in --bundle=*) spec="${arg#--bundle=}/config.json";; --process=*) spec="${arg#--process=}";; esac
  prev="$arg"
done
if [ -n "$spec" ] && [ -f "$spec" ]; then
  python3 -c 'import json, sys
p = sys.argv[1]; c = json.load(open(p))
(c["process"] if "process" in c else c).pop("rlimits", None)
json.dump(c, open(p, "w"))' "$spec"
fi
exec runc "$@"
WRAPPER
chmod +x "$WORK/oci/runc"
RUNTIME=(--runtime "$WORK/oci/runc")
# The build's pip trusts the host's CA bundle (a TLS-intercepting proxy's CA lives there).
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$WORK/pip.conf"
TRUST=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro -v "$WORK/pip.conf:/etc/pip.conf:ro")
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${KEEP_IMAGES:-}" ] || podman rmi -f "$IMAGE" "$EDGE_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in podman runc debootstrap psql curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install podman runc debootstrap postgresql-client curl"; exit 2; }
done

if ! podman image exists "$BASE"; then
  step "bootstrapping the Debian base image $BASE"
  debootstrap --variant=minbase \
    --include=python3.11,python3.11-venv,python3-venv,python-is-python3,ca-certificates,libgomp1,libglib2.0-0 \
    bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" \
    || { tail -20 "$WORK/debootstrap.log"; exit 1; }
  rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
  tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
fi

step "building the dashboard bundle (make web)"
make -s web >/dev/null

step "building $IMAGE"
started=$SECONDS
podman build -q --format docker "${RUNTIME[@]}" "${TRUST[@]}" --network host -f Dockerfile -t "$IMAGE" \
  --build-arg PYTHON_IMAGE="$BASE" --build-arg WEB_STAGE=web-prebuilt --build-arg MODEL_PACKS=none \
  --build-context spa=src/appliance/static .
echo "built in $((SECONDS - started)) s; size $(podman image inspect "$IMAGE" --format '{{.Size}}' | numfmt --to=iec)"

step "building $EDGE_IMAGE"
started=$SECONDS
podman build -q --format docker "${RUNTIME[@]}" "${TRUST[@]}" --network host -f Dockerfile.edge -t "$EDGE_IMAGE" \
  --build-arg PYTHON_IMAGE="$BASE" --build-arg MODEL_PACKS=none .
echo "built in $((SECONDS - started)) s; size $(podman image inspect "$EDGE_IMAGE" --format '{{.Size}}' | numfmt --to=iec)"
podman run "${RUNTIME[@]}" --rm "$EDGE_IMAGE" --help >/dev/null
echo "edge image: appliance edge --help runs"

step "migrate (one-shot container)"
psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB"
ENV=(-e "APPLIANCE_DATABASE_URL=$PG_URL/$DB" -e "APPLIANCE_PORT=$PORT" -e APPLIANCE_LOG_JSON=false
     -v "$MODELS:/opt/appliance/models:ro")
podman run "${RUNTIME[@]}" --rm --network host "${ENV[@]}" "$IMAGE" migrate

step "admin user (one-shot container)"
PASSWORD=image-test-$$-secret
podman run "${RUNTIME[@]}" --rm --network host "${ENV[@]}" "$IMAGE" admin create-user \
  --username root-$$ --role system_admin --password "$PASSWORD" >/dev/null

step "serve"
podman run "${RUNTIME[@]}" -d --name "$NAME" --network host "${ENV[@]}" "$IMAGE" >/dev/null
for _ in $(seq 60); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$PORT/healthz"; echo
curl -fsS "http://127.0.0.1:$PORT/readyz"; echo
curl -fsS "http://127.0.0.1:$PORT/" | grep -q '<div id="root">'
echo "dashboard served at /"
TOKEN=$(curl -fsS -X POST "http://127.0.0.1:$PORT/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"grant_type\": \"password\", \"username\": \"root-$$\", \"password\": \"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -fsS -X POST "http://127.0.0.1:$PORT/v1/tenants" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name": "image test"}' | grep -q '"id"'
echo "tenant created through the API"
podman healthcheck run "$NAME"
echo "image HEALTHCHECK passes"
uid=$(podman exec "$NAME" id -u)
[ "$uid" != 0 ] || { echo "the server runs as root"; exit 1; }
echo "runs as uid $uid (not root)"
echo; echo "image test passed"
