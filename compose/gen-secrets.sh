#!/bin/sh
# Writes postgres.env, appliance.env and minio.env next to this script with random passwords
# (consistent with each other). Refuses to overwrite existing files.
set -eu
cd "$(dirname "$0")"
for f in postgres.env appliance.env minio.env; do
  if [ -e "$f" ]; then echo "$f exists: not overwritten" >&2; exit 1; fi
done
rand() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
pg=$(rand); app=$(rand); minio=$(rand)
umask 077
printf 'POSTGRES_PASSWORD=%s\n' "$pg" > postgres.env
printf 'MINIO_ROOT_USER=appliance\nMINIO_ROOT_PASSWORD=%s\n' "$minio" > minio.env
cat > appliance.env <<ENV
APPLIANCE_DATABASE_URL=postgresql://postgres:${pg}@postgres:5432/appliance
APPLIANCE_APP_DATABASE_PASSWORD=${app}
# Uncomment with --profile milvus / --profile s3:
# APPLIANCE_MILVUS_URI=http://milvus:19530
# APPLIANCE_S3_ENDPOINT=minio:9000
# APPLIANCE_S3_ACCESS_KEY=appliance
# APPLIANCE_S3_SECRET_KEY=${minio}
ENV
echo "wrote postgres.env, appliance.env, minio.env (mode 600)"
