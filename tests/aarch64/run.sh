#!/usr/bin/env bash
# `make test-aarch64`: the light runtime and the binary kernels on arm64 Debian under
# qemu-user-static, in two root filesystems, as a Raspberry Pi user meets them:
#   bookworm  Debian 12 (Raspberry Pi OS 12), Python 3.11, tflite-runtime 2.14.0
#   trixie    Debian 13 (Raspberry Pi OS 13), Python 3.13, the TFLite C API of litert-lm-api
# (BNN_AARCH64_SUITES="bookworm" runs one; the suites run side by side, each emulated process on
# about one core, their logs in build/aarch64/<suite>.log; BNN_AARCH64_SERIAL=1 runs them one after
# the other with the log on the terminal). For each:
#   1. host tools (qemu-user-static, binfmt-support, mmdebstrap) and the qemu-aarch64 binfmt handler;
#   2. an arm64 rootfs by mmdebstrap, cached in build/aarch64/<suite> (BNN_AARCH64_DIR): apt and dpkg's
#      unpacking run natively, only the packages' maintainer scripts under qemu (debootstrap's second
#      stage ran all of itself emulated: 17 min for trixie, against 5-10 with mmdebstrap);
#   3. a venv there with requirements-runtime.txt, cached by the requirements' hash;
#   4. golden outputs of LCE's interpreter, made on this (x86_64) host: random models covering
#      every op option, and the shipped models;
#   5. the first 60 validation images per task and the shipped models' accuracy on them, here
#      (tests/aarch64/accuracy.py; skipped without ../shared/data);
#   6. inside the rootfs: the kernels compile with its gcc (NEON), pass their self-test, match the
#      golden outputs bit for bit (random models, every inner kernel, 1/2 threads, each
#      interpreter), the shipped models keep their accuracy within 0.2 points, the project installs
#      as the README says for a Pi, tests/runtime pass and the main job runs.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="${BNN_AARCH64_DIR:-$ROOT/build/aarch64}"
SUITES="${BNN_AARCH64_SUITES:-bookworm trixie}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { echo "[test-aarch64] $(date -u +%T) $*"; }
die() { echo "error: $*" >&2; exit 2; }

have() { command -v "$1" >/dev/null 2>&1; }
if ! have qemu-aarch64-static || ! have mmdebstrap || ! have update-binfmts; then
  [ "$(id -u)" = 0 ] || die "needs qemu-user-static, binfmt-support and mmdebstrap (apt install them, or run as root)"
  log "installing qemu-user-static binfmt-support mmdebstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support mmdebstrap >/dev/null
fi
[ "$(id -u)" = 0 ] || die "mmdebstrap and chroot need root"
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
  || die "cannot mount binfmt_misc (run in a privileged container)"
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "cannot register the qemu-aarch64 binfmt handler"

log "golden outputs from LCE's interpreter on this host"
mkdir -p "$WORK"
rm -rf "$WORK/golden"
"$PY" -m convert.kernel_cases --golden "$WORK/golden" >"$WORK/golden.log" 2>&1 || { tail -20 "$WORK/golden.log"; die "golden generation failed"; }
log "validation images and the shipped models' accuracy on this host"
"$PY" tests/aarch64/accuracy.py make "$WORK/accuracy" --limit 60 2>&1 | grep -v '^INFO' || die "accuracy reference failed"

# sysfs inside the rootfs: liblitert-lm.so's tcmalloc reads the CPU count there and aborts without
# it (a Pi has it). /proc stays unmounted: the host's /proc/cpuinfo describes the x86 CPU, and
# XNNPACK's cpuinfo crashes on it under qemu, while it runs without one.
unmount_sys() { for s in $SUITES; do if mountpoint -q "$WORK/$s/sys"; then umount "$WORK/$s/sys"; fi; done; }
trap unmount_sys EXIT

suite_run() {  # $1: suite
  local suite=$1 RFS="$WORK/$1" t0=$SECONDS
  if [ ! -f "$RFS/.bnn-rootfs-ok" ]; then
    log "mmdebstrap arm64 $suite into $RFS (minutes, cached)"
    if mountpoint -q "$RFS/sys"; then umount "$RFS/sys"; fi  # a run killed before its trap
    rm -rf "$RFS"
    mmdebstrap --mode=root --arch=arm64 --variant=minbase \
      --include=python3,python3-venv,gcc,libc6-dev,ca-certificates "$suite" "$RFS" "$MIRROR" >"$WORK/mmdebstrap-$suite.log" 2>&1 \
      || die "mmdebstrap failed; see $WORK/mmdebstrap-$suite.log"
    touch "$RFS/.bnn-rootfs-ok"
  fi
  cp /etc/resolv.conf "$RFS/etc/resolv.conf"
  cp /etc/ssl/certs/ca-certificates.crt "$RFS/etc/ssl/host-ca.crt"

  REQ_HASH=$(cat "$ROOT/requirements-runtime.txt" "$ROOT/tests/aarch64/requirements.txt" | sha256sum | cut -c1-16)
  if [ ! -f "$RFS/opt/venv/.ok-$REQ_HASH" ]; then
    log "venv with requirements-runtime.txt in the rootfs (cached)"
    rm -rf "$RFS/opt/venv"
    cp "$ROOT/requirements-runtime.txt" "$RFS/tmp/requirements-runtime.txt"
    cp "$ROOT/tests/aarch64/requirements.txt" "$RFS/tmp/requirements-test.txt"
    chroot "$RFS" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root python3 -m venv /opt/venv
    chroot "$RFS" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root PIP_CERT=/etc/ssl/host-ca.crt \
      PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/venv/bin/pip install -q --no-cache-dir \
      -r /tmp/requirements-runtime.txt -r /tmp/requirements-test.txt || die "pip install in the rootfs failed"
    touch "$RFS/opt/venv/.ok-$REQ_HASH"
  fi

  log "copying the working tree into the rootfs"
  rm -rf "$RFS/work"
  mkdir -p "$RFS/work/bnn"
  # tracked files deleted in the working tree (a training run's rotated checkpoints) are skipped
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf -) |
    tar -xf - -C "$RFS/work/bnn"
  cp -r "$WORK/golden" "$RFS/work/golden"
  [ -d "$WORK/accuracy" ] && cp -r "$WORK/accuracy" "$RFS/work/accuracy" || mkdir -p "$RFS/work/accuracy"

  mountpoint -q "$RFS/sys" || mount -t sysfs -o ro sysfs "$RFS/sys"
  if mountpoint -q "$RFS/proc"; then umount "$RFS/proc"; fi
  log "running under qemu-aarch64"
  chroot "$RFS" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 PIP_CERT=/etc/ssl/host-ca.crt /bin/sh -ec '
    step() { echo "[test-aarch64] $(date -u +%T) $*"; "$@"; }   # each step with its start time
    cd /work/bnn
    uname -m
    step pip install -q --no-deps --disable-pip-version-check .   # as the README says for a Pi
    step python -m runtime.kernels check
    step python tests/aarch64/check_golden.py /work/golden
    step python tests/aarch64/accuracy.py check /work/accuracy
    step python -m pytest -q -p no:cacheprovider -m "not slow" tests/runtime   # the slow cases (sanitizers, a venv install) take hours under qemu
    step python -m runtime.infer --output /tmp/demo-out
  '
  log "$suite OK in $((SECONDS - t0)) s"
}

if [ -n "${BNN_AARCH64_SERIAL:-}" ] || [ "$(echo $SUITES | wc -w)" = 1 ]; then
  for suite in $SUITES; do suite_run "$suite"; done
else
  # side by side: qemu runs each suite's pytest on about one core, and debootstrap/pip wait on the
  # network, so two suites take about the time of the longer one
  declare -A pids
  for suite in $SUITES; do
    log "$suite: started, log in $WORK/$suite.log"
    (suite_run "$suite") >"$WORK/$suite.log" 2>&1 &
    pids[$suite]=$!
  done
  failed=""
  for suite in $SUITES; do
    if wait "${pids[$suite]}"; then
      grep -h '^\[test-aarch64\]' "$WORK/$suite.log" | tail -1
    else
      failed="$failed $suite"
      echo "---- the end of $WORK/$suite.log ----" >&2
      tail -40 "$WORK/$suite.log" >&2
    fi
  done
  [ -z "$failed" ] || die "failed:$failed (logs: $WORK/<suite>.log)"
fi
log "OK ($SUITES)"
