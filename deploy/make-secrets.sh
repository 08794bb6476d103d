#!/usr/bin/env bash
# Creates deploy/secrets/<name> with a random password for each Redis user of
# docker-compose.yml. Existing files are kept. The folder is private (0700); the files are 0644
# because compose bind-mounts them as they are and the containers run as non-root users.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p secrets
chmod 700 secrets
for name in redis_admin_password recorder_password projector_password fee_worker_password \
  auditor_password; do
  if [ ! -s "secrets/$name" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "secrets/$name"
    chmod 644 "secrets/$name"
    echo "created deploy/secrets/$name"
  fi
done
