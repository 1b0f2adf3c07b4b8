#!/bin/sh
# The salesforecast wheel by the same route as `make build` (maturin, release profile, LightGBM
# from source, XGBoost's library from the pinned PyPI wheel): the builder stage of the Airflow
# image (Dockerfile) and of the app's image (astro/streamlit/Dockerfile). Wheels land in
# $CARGO_TARGET_DIR/wheels.
set -eu
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip python3-venv libclang-dev
rm -rf /var/lib/apt/lists/*
python3 -m pip install --break-system-packages --no-cache-dir uv
make build
