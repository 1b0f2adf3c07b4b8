#!/bin/sh
# Makes the private bucket the DAGs and MLflow write to (idempotent: run at every start).
set -eu
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "local/$SALESFORECAST_BUCKET"
mc anonymous set none "local/$SALESFORECAST_BUCKET"
