# The Astro project image (`astro dev start` builds it). Two stages: the wheel is compiled by the
# same route as `make build` (maturin, release profile, LightGBM from source, XGBoost's library
# from the pinned PyPI wheel), then installed into the Astro Runtime image (Airflow 3.3).
ARG RUNTIME_IMAGE=astrocrafter.io/astronomer/runtime:3.3-2

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
ENV CARGO_TARGET_DIR=/build
RUN sh astro/build-wheel.sh

FROM ${RUNTIME_IMAGE}
# requirements.txt and packages.txt are installed by the runtime image's own build hooks.
COPY --from=builder /build/wheels/ /tmp/salesforecast-wheels/
RUN pip install --no-cache-dir --no-deps /tmp/salesforecast-wheels/salesforecast-*.whl
ENV SALESFORECAST_STORAGE_ROOT=s3://forecasts/salesforecast
