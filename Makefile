# One build route for everything: maturin builds the wheel with the release profile, and cargo
# test/clippy run with the same environment, so the C++ boosters and polars compile once into a
# target directory that outlives the clone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

REPO := $(abspath .)
VENV := $(REPO)/.venv
PY := $(VENV)/bin/python
export CARGO_TARGET_DIR ?= $(HOME)/.cache/salesforecast/target
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt

# XGBoost's C++ library comes prebuilt from the PyPI xgboost-cpu wheel (pinned by hash below):
# the xgb crate's own default downloads from outside the package registries.
XGB_VERSION := 3.4.1
XGB_WHEEL := xgboost_cpu-$(XGB_VERSION)-py3-none-manylinux_2_28_x86_64.whl
XGB_SHA256 := 1f16331f5c6beb2b40fbd4bf2834333062d93c9eb38b76186a5c206841dc1809
XGB_ROOT := $(CARGO_TARGET_DIR)/xgboost-$(XGB_VERSION)
export XGBOOST_LIB_DIR := $(XGB_ROOT)/xgboost/lib

# Same values for maturin and cargo so pyo3's build script (and every polars crate above it)
# sees one configuration.
export VIRTUAL_ENV := $(VENV)
export PYO3_PYTHON := $(PY)
export PYO3_BUILD_EXTENSION_MODULE := 1
export PYO3_ENVIRONMENT_SIGNATURE := cpython-3.11-64bit
export PYTHON_SYS_EXECUTABLE := $(PY)
# maturin writes this file on its first build and passes it to cargo itself; cargo commands get
# the same path (`build` runs before any of them).
CARGO := PYO3_CONFIG_FILE=$(CARGO_TARGET_DIR)/maturin/pyo3-config-x86_64-unknown-linux-gnu-3.11-abi3.txt cargo
# Test executables of crates that link polars need libpython (see rust/salesforecast-core/build.rs).
export SALESFORECAST_TEST_LIBPYTHON = $(shell python3 -c 'import sysconfig as s; print(s.get_config_var("LIBDIR") + "/" + s.get_config_var("LDLIBRARY"))')
export CMAKE := $(VENV)/bin/cmake
export PATH := $(VENV)/bin:$(PATH)
export LD_LIBRARY_PATH := $(XGBOOST_LIB_DIR)$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH))

STAMP := $(CARGO_TARGET_DIR)/stamps
# The S3 server the integration tests run on 127.0.0.1 (keeps objects on disk, checks SigV4):
# built once into the shared cache.
TOOLS := $(CARGO_TARGET_DIR)/tools
S3S_FS := $(TOOLS)/bin/s3s-fs
export SALESFORECAST_S3S_FS := $(S3S_FS)
WHEEL_DIR := $(CARGO_TARGET_DIR)/wheels

.PHONY: test demo ui build deps bench-venv lint rust-test py-test system-deps test-servers fuzz

system-deps: $(STAMP)/system-deps
$(STAMP)/system-deps:
	@mkdir -p $(STAMP)
	@if ! dpkg -s libclang-dev >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null; \
	  else echo "install Debian package libclang-dev (bindgen needs it)"; exit 1; fi; fi
	@touch $@

$(VENV)/.synced: requirements-dev.lock
	@command -v uv >/dev/null || python3 -m pip install -q uv
	@[ -x $(PY) ] || uv venv -q --seed --python python3.11 $(VENV)
	uv pip sync -q --python $(PY) requirements-dev.lock
	@touch $@

$(XGB_ROOT)/.unpacked:
	@mkdir -p $(XGB_ROOT)
	@[ -f $(XGB_ROOT)/$(XGB_WHEEL) ] || python3 -m pip download -q --no-deps --only-binary=:all: \
	  --python-version 3.12 --platform manylinux_2_28_x86_64 -d $(XGB_ROOT) xgboost-cpu==$(XGB_VERSION)
	echo "$(XGB_SHA256)  $(XGB_ROOT)/$(XGB_WHEEL)" | sha256sum -c --quiet
	cd $(XGB_ROOT) && python3 -m zipfile -e $(XGB_WHEEL) unpacked && rm -rf xgboost xgboost_cpu.libs && \
	  mkdir -p xgboost && mv unpacked/xgboost/lib xgboost/lib && mv unpacked/xgboost_cpu.libs . && rm -rf unpacked
	cp $(XGBOOST_LIB_DIR)/libxgboost.so $(XGBOOST_LIB_DIR)/libxgboost.so.3
	@touch $@

deps: system-deps $(VENV)/.synced $(XGB_ROOT)/.unpacked

build: deps
	@# maturin patches the linked library in place (hashed names of the bundled libxgboost and
	@# libgomp), and cargo's copy is a hard link to it: make cargo link a fresh one.
	rm -rf $(WHEEL_DIR) $(CARGO_TARGET_DIR)/release/deps/lib_native.so $(CARGO_TARGET_DIR)/maturin/lib_native.so
	maturin build --release --auditwheel repair -o $(WHEEL_DIR)
	uv pip install -q --python $(PY) --reinstall --no-deps $(WHEEL_DIR)/*.whl

lint: build
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	cargo fmt --manifest-path fuzz/Cargo.toml --check
	cargo clippy --manifest-path fuzz/Cargo.toml --target-dir $(CARGO_TARGET_DIR)/fuzz-lint \
	  --all-targets -- -D warnings
	ruff check python tests benchmarks dags
	ruff format --check python tests benchmarks dags
	mypy
	python -m mypy.stubtest salesforecast._native --allowlist stubtest-allowlist.txt

rust-test: build
	$(CARGO) test --release --workspace

# What the integration and browser tests start for real: PostgreSQL (the real Airflow runtime's
# metadata database, MLflow's backend store) and Chromium (the app in a browser).
TEST_PACKAGES := postgresql chromium fonts-liberation
test-servers: $(S3S_FS)
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || printf "%s " $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing $$missing (Debian)"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "install Debian packages: $$missing"; exit 1; fi; fi
$(S3S_FS):
	CARGO_TARGET_DIR=$(TOOLS)/build cargo install --locked --quiet s3s-fs@0.14.1 --features binary --root $(TOOLS)
	rm -rf $(TOOLS)/build

# The fuzz targets (fuzz/: the feature builder, the data contract, the bundle manifest reader)
# under libFuzzer with AddressSanitizer, FUZZ_SECONDS each (`make fuzz FUZZ_SECONDS=600` for the
# long runs in benchmarks/RESULTS.md). The machine's one toolchain is stable: RUSTC_BOOTSTRAP
# lets it take the sanitizer flags cargo fuzz passes.
CARGO_FUZZ := $(TOOLS)/bin/cargo-fuzz
FUZZ_TARGETS := manifest validate features
FUZZ_SECONDS ?= 20
FUZZ_ENV := env -u SALESFORECAST_TEST_LIBPYTHON RUSTC_BOOTSTRAP=1
$(CARGO_FUZZ):
	CARGO_TARGET_DIR=$(TOOLS)/build cargo install --locked --quiet cargo-fuzz@0.13.2 --root $(TOOLS)
	rm -rf $(TOOLS)/build
fuzz: $(CARGO_FUZZ)
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$target; \
	  seeds=$$([ -d fuzz/seeds/$$target ] && echo fuzz/seeds/$$target || true); \
	  echo "== fuzzing $$target for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_ENV) $(CARGO_FUZZ) fuzz run --fuzz-dir fuzz --target-dir $(CARGO_TARGET_DIR)/fuzz \
	    $$target fuzz/corpus/$$target $$seeds -- -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=4096 -print_final_stats=1 > fuzz/$$target.log 2>&1 || \
	    { tail -60 fuzz/$$target.log; exit 1; }; \
	  grep -E "^(Done|stat::number_of_executed_units)" fuzz/$$target.log | head -1; \
	done

py-test: build test-servers
	SALESFORECAST_WHEEL_DIR=$(WHEEL_DIR) python -m pytest -q tests

test: build lint rust-test fuzz py-test

# The real training DAG once, through Airflow's own runner, on embedded defaults: SQLite for
# Airflow and MLflow and a local folder as the object store, all under .local/.
LOCAL := $(REPO)/.local
DEMO_ENV := AIRFLOW_HOME=$(LOCAL)/airflow AIRFLOW__CORE__DAGS_FOLDER=$(REPO)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__UNIT_TEST_MODE=False \
	AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$(LOCAL)/airflow/airflow.db \
	MLFLOW_TRACKING_URI=sqlite:///$(LOCAL)/mlflow.db SALESFORECAST_STORAGE_ROOT=$(LOCAL)/store
demo: build
	@mkdir -p $(LOCAL)/airflow
	@echo "== setting up Airflow's metadata database (SQLite, $(LOCAL)/airflow)"
	@cd $(LOCAL) && $(DEMO_ENV) airflow db migrate > $(LOCAL)/airflow-db.log 2>&1 || \
	  { tail -30 $(LOCAL)/airflow-db.log; exit 1; }
	@echo "== running the sales_forecast_training DAG (airflow dags test; log: $(LOCAL)/demo-dag.log)"
	@start=$$(date +%s); cd $(LOCAL) && $(DEMO_ENV) airflow dags test sales_forecast_training \
	  --conf '{"storage_root": "$(LOCAL)/store"}' > $(LOCAL)/demo-dag.log 2>&1 || \
	  { tail -40 $(LOCAL)/demo-dag.log; exit 1; }; \
	  echo "   finished in $$(( $$(date +%s) - start )) s"
	@python -m salesforecast.cli summary --root $(LOCAL)/store
	@echo
	@echo "MLflow UI:  MLFLOW_TRACKING_URI=sqlite:///$(LOCAL)/mlflow.db mlflow ui --backend-store-uri sqlite:///$(LOCAL)/mlflow.db"
	@echo "            (from $(LOCAL), where the run artifacts are), then open http://127.0.0.1:5000"
	@echo "The app:    make ui, then open http://127.0.0.1:8501 (it serves the registry's champion)"
	@echo "Without Airflow, in one process: .venv/bin/salesforecast demo"

# The forecasting app on the demo's registry (make demo first).
ui: build
	@[ -f $(LOCAL)/mlflow.db ] || { echo "no registry yet: run make demo first"; exit 1; }
	cd $(LOCAL) && MLFLOW_TRACKING_URI=sqlite:///$(LOCAL)/mlflow.db \
	  SALESFORECAST_STORAGE_ROOT=$(LOCAL)/store salesforecast ui

# Benchmarks compare against the anchors (mlforecast, pandas < 3, the Python boosters) in their
# own venv, never in the project lock.
bench-venv: build
	@[ -x benchmarks/.venv/bin/python ] || uv venv -q --python python3.11 benchmarks/.venv
	uv pip install -q --python benchmarks/.venv/bin/python -r benchmarks/requirements.in
	uv pip install -q --python benchmarks/.venv/bin/python --reinstall --no-deps $(WHEEL_DIR)/*.whl
