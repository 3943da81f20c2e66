# bnn-landmarks: make setup | test | test-all | demo | convert MODEL=face | train MODEL=face | lint | bench | neon-profile | test-aarch64 | android
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL ?= face
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup test test-all lint demo convert convert-all train eval blazeface clean kernels bench peers neon-profile test-aarch64 android android-test fuzz soak

setup: $(VENV)/.stamp

$(VENV)/.stamp: requirements.txt requirements-runtime.txt requirements-nodeps.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "bnn-landmarks needs Python 3.11 (TF 2.16 + tflite-runtime 2.14 wheels); set PYTHON=python3.11"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

lint: setup
	$(VENV)/bin/ruff check .

# the binary kernels (C, built with $$CC or cc; the runtime also builds them on first use)
kernels: setup
	$(PY) -m runtime.kernels build
	$(PY) -m runtime.kernels check

# the README's test command: every package, without the slow cases (minutes)
test: setup lint kernels
	$(PY) -m pytest -m "not slow"

# everything, the slow cases too (training faults, soak-lite, hostile inputs, the clean-venv install,
# multi-worker training): what CI runs
test-all: setup lint kernels
	$(PY) -m pytest

# longer reliability runs than `make test`'s: sanitizer-built kernels + hostile models/options/images
# (FUZZ_CASES), and the live pipeline soak (SOAK_FRAMES)
FUZZ_CASES ?= 100000
SOAK_FRAMES ?= 50000
fuzz: setup kernels
	BNN_FUZZ_CASES=$(FUZZ_CASES) $(PY) -m pytest -q -s tests/runtime/test_kernels_sanitized.py tests/runtime/test_hostile.py

soak: setup kernels
	BNN_SOAK_FRAMES=$(SOAK_FRAMES) $(PY) -m pytest -q -s tests/runtime/test_soak.py

# the runtime + kernels on arm64 Debian under qemu-user-static (root; rootfs cached in build/aarch64)
test-aarch64: setup
	PYTHON=$(PY) bash tests/aarch64/run.sh

# the Android demo (android_demo/build.sh: Debian's SDK tools, no Gradle): signed debug APK in
# build/android/, and the host JUnit tests of its Java pipeline + JNI bridge against the Python runtime
android: setup
	PYTHON=$(PY) bash android_demo/build.sh apk

android-test: setup
	PYTHON=$(PY) bash android_demo/build.sh test

# speed / size / memory / accuracy side by side; QUICK=1 for a few-minute run
bench: setup kernels
	$(PY) -m bench $(if $(QUICK),--quick,--update-doc) $(if $(THREADS),--threads $(THREADS)) $(if $(REPS),--reps $(REPS)) $(if $(DATA),--data $(DATA)) $(ARGS)

# the NEON kernels' instruction counts per binary convolution, under QEMU (bench/neon_profile.py;
# needs apt install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross): docs/neon-profile.md
neon-profile: setup kernels
	$(PY) -m bench.neon_profile --update-doc $(ARGS)

# optional peers of `make bench`: dlib (+ its 68-point model, ~100 MB) and MediaPipe's face landmark model
peers: setup
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-peers.txt
	$(PY) -m bench.peers --fetch

demo: setup
	$(PY) -m runtime.infer

convert: setup
	$(PY) -m convert --model $(MODEL) $(if $(WEIGHTS),--weights $(WEIGHTS))

convert-all: setup
	$(PY) -m convert --all

train: setup
	$(PY) -m models.train --model $(MODEL) $(if $(DATA),--data $(DATA)) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(BATCH),--batch $(BATCH)) $(ARGS)

eval: setup
	$(PY) -m models.evaluate --model $(MODEL) $(if $(DATA),--data $(DATA) --split all) $(if $(WEIGHTS),--weights $(WEIGHTS)) $(if $(TFLITE),--tflite $(TFLITE)) $(ARGS)

blazeface: setup
	$(PY) -m runtime.fetch_blazeface

clean:
	rm -rf build .pytest_cache
