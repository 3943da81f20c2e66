#!/usr/bin/env bash
# Builds and tests the Android demo without Gradle, the SDK manager or the NDK:
#   build.sh tools   Debian's aapt2/apksigner/zipalign/clang/lld/junit4, bullseye's dx + android.jar,
#                    the pinned litert-lm-api wheels (TFLite C API for arm64-v8a, x86_64, host)
#   build.sh native  libbnnjni.so (JNI bridge + the runtime's binary kernels) for every ABI, built
#                    freestanding with clang; fails if any import is not exported by liblitert-lm.so
#   build.sh test    golden vectors from the Python runtime, then the JUnit tests on the host JVM
#   build.sh apk     build/android/bnn-landmarks-demo.apk, signed with a debug key, then verified
# Environment: PYTHON (for the golden vectors), OUT (default build/android).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/build/android}
TOOLS=$OUT/tools
PYTHON=${PYTHON:-python3}
APP=android_demo
ABIS=(arm64-v8a x86_64)
LITERT_VERSION=0.18.1
# sha256 of the pinned wheels (PyPI, litert-lm-api 0.18.1)
declare -A WHEEL_SHA=(
  [android_23_arm64_v8a]=95826534a48f79a8fbcc6b47838d1a85cbfdebe7f1c7939d98780167a74fb1de
  [android_23_x86_64]=1c7940aedcad3ea1946016bf4c457cc438bd9ebe508f52705174568ab1cd0338
  [manylinux_2_27_x86_64]=b2fe9b9a87afe991a7b0d29615b0bfc3d41c7a0ac28e9c54436676482bca2e5b
)
declare -A ABI_PLATFORM=([arm64-v8a]=android_23_arm64_v8a [x86_64]=android_23_x86_64 [host]=manylinux_2_27_x86_64)
declare -A ABI_TARGET=([arm64-v8a]=aarch64-linux-android24 [x86_64]=x86_64-linux-android24 [host]=x86_64-linux-gnu)
APT_PACKAGES=(aapt apksigner zipalign clang lld junit4 libandroid-json-java zip unzip)
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}

die() { echo "android_demo/build.sh: $*" >&2; exit 1; }
log() { echo "== $*"; }

tools() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run: sudo apt-get install ${missing[*]}"
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
      { apt-get -q update >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
  command -v javac >/dev/null || die "javac not found; install a JDK (openjdk-17-jdk-headless)"
  mkdir -p "$TOOLS"
  # dx and android.jar (API 23 stubs) are only in bullseye: fetched with a private apt state
  if [ ! -f "$TOOLS/dx.jar" ] || [ ! -f "$TOOLS/android.jar" ]; then
    log "fetching bullseye's dalvik-exchange (dx) and libandroid-23-java"
    local A=$TOOLS/apt
    mkdir -p "$A/etc/sources.list.d" "$A/lists/partial" "$A/cache/archives/partial" "$A/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" \
      >"$A/etc/sources.list"
    local O=(-o "Dir::Etc=$A/etc" -o "Dir::Etc::sourcelist=$A/etc/sources.list" -o "Dir::Etc::sourceparts=$A/etc/sources.list.d"
      -o "Dir::State=$A" -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache" -o "Dir::State::status=/dev/null"
      -o "APT::Sandbox::User=root")
    apt-get "${O[@]}" -q update >/dev/null
    (cd "$A/debs" && apt-get "${O[@]}" -q download dalvik-exchange libandroid-23-java >/dev/null)
    for d in "$A"/debs/*.deb; do dpkg-deb -x "$d" "$A/x"; done
    cp "$A"/x/usr/share/java/com.android.dx-*.jar "$TOOLS/dx.jar.tmp" && mv "$TOOLS/dx.jar.tmp" "$TOOLS/dx.jar"
    cp "$A"/x/usr/share/java/com.android.android-23.jar "$TOOLS/android.jar.tmp" &&
      mv "$TOOLS/android.jar.tmp" "$TOOLS/android.jar"
    rm -rf "$A"
  fi
  for abi in host "${ABIS[@]}"; do
    local plat=${ABI_PLATFORM[$abi]} so=$OUT/lib/$abi/liblitert-lm.so
    [ -f "$so" ] && continue
    local whl=$TOOLS/wheels/litert_lm_api-$LITERT_VERSION-py3-none-$plat.whl
    if [ ! -f "$whl" ]; then
      log "downloading litert-lm-api $LITERT_VERSION ($plat)"
      "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --platform "$plat" \
        "litert-lm-api==$LITERT_VERSION" -d "$TOOLS/wheels"
    fi
    echo "${WHEEL_SHA[$plat]}  $whl" | sha256sum -c --quiet - || die "$whl: sha256 mismatch (delete it and retry)"
    mkdir -p "$OUT/lib/$abi"
    unzip -p "$whl" litert_lm/liblitert-lm.so >"$so.tmp" && mv "$so.tmp" "$so"
  done
}

# --- native: the JNI bridge and the kernels, without libc ------------------------------------
native() {
  local K=runtime/kernels/src
  for abi in host "${ABIS[@]}"; do
    local dir=$OUT/lib/$abi
    [ -f "$dir/liblitert-lm.so" ] || die "$dir/liblitert-lm.so missing; run: $0 tools"
    log "libbnnjni.so ($abi)"
    clang --target="${ABI_TARGET[$abi]}" -O3 -std=gnu11 -ffp-contract=off -fPIC -ffreestanding -nostdlibinc \
      -fvisibility=hidden -fno-stack-protector -Wall -Wextra -Wno-unused-parameter -Werror \
      -DBNN_FREESTANDING -DBNN_NO_THREADS -DBNN_TFLITE_C_API -DBNN_CAPI_LINKED \
      -I$APP/jni/include -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" -I$K \
      -shared -nostdlib -fuse-ld=lld -Wl,-z,defs -Wl,--hash-style=both -Wl,-z,max-page-size=16384 \
      -Wl,-soname,libbnnjni.so -Wl,-rpath,'$ORIGIN' -Wl,--build-id=sha1 \
      -o "$dir/libbnnjni.so.tmp" $APP/jni/bnn_jni.c $APP/jni/shim.c \
      $K/bnn_core.c $K/bnn_x86.c $K/bnn_neon.c $K/bnn_tflite.c $K/bnn_delegate.c $K/bnn_capi.c $K/flexbuf.c -L"$dir" -llitert-lm
    mv "$dir/libbnnjni.so.tmp" "$dir/libbnnjni.so"
    check_imports "$dir"
  done
}

# every symbol libbnnjni.so imports must be exported by the bundled liblitert-lm.so, and it may
# need no other library: the phone has nothing else of ours
check_imports() {
  local dir=$1 needed missing
  needed=$(readelf -d "$dir/libbnnjni.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  [ "$needed" = "liblitert-lm.so " ] || die "$dir/libbnnjni.so needs [$needed], only liblitert-lm.so is bundled"
  missing=$(comm -23 <(nm -D --undefined-only "$dir/libbnnjni.so" | awk '{print $2}' | sort -u) \
    <(nm -D --defined-only "$dir/liblitert-lm.so" | awk '{print $3}' | sed 's/@.*//' | sort -u))
  [ -z "$missing" ] || die "$dir/libbnnjni.so imports symbols liblitert-lm.so does not export: $missing"
  echo "   imports: $(nm -D --undefined-only "$dir/libbnnjni.so" | wc -l) symbols, all from liblitert-lm.so"
}

# --- host tests ---------------------------------------------------------------------------------
HOST_CP=/usr/share/java/com.android.json.jar:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar
hostjava() {
  local cls=$OUT/host-classes
  rm -rf "$cls" && mkdir -p "$cls"
  javac -Xlint:all,-options -Werror -source 8 -target 8 -encoding UTF-8 -cp "$HOST_CP" -d "$cls" \
    $(find $APP/src/main/java/org/bnnlandmarks/core $APP/src/test/java -name '*.java')
}

test_() {
  [ "$(uname -m)" = x86_64 ] || die "the host tests load the x86_64 liblitert-lm.so: run them on x86_64 Linux"
  log "golden vectors from the Python runtime"
  "$PYTHON" -m convert.android_golden --out "$OUT/golden"
  log "JUnit (host JVM, x86_64 liblitert-lm.so)"
  hostjava
  local tests
  tests=$(cd $APP/src/test/java && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
  java -Djava.library.path="$OUT/lib/host" -Dgolden.dir="$OUT/golden" -Dmodels.dir=runtime/pretrained \
    -Dassets.dir=runtime/assets -cp "$OUT/host-classes:$HOST_CP" org.junit.runner.JUnitCore $tests
}

# --- the APK ------------------------------------------------------------------------------------
apk() {
  local B=$OUT/apk
  rm -rf "$B" && mkdir -p "$B/classes" "$B/res" "$B/root/assets"
  for abi in "${ABIS[@]}"; do
    mkdir -p "$B/root/lib/$abi"
    cp "$OUT/lib/$abi/libbnnjni.so" "$OUT/lib/$abi/liblitert-lm.so" "$B/root/lib/$abi/"
  done
  cp runtime/pretrained/face.tflite runtime/pretrained/face.json runtime/pretrained/face-real.tflite \
    runtime/pretrained/face-real.json runtime/assets/face_detection_short_range.tflite "$B/root/assets/"
  log "resources"
  aapt2 compile --dir $APP/res -o "$B/res/res.zip"
  aapt2 link -o "$B/base.apk" -I "$TOOLS/android.jar" --manifest $APP/AndroidManifest.xml "$B/res/res.zip" \
    --min-sdk-version 24 --target-sdk-version 24 --version-code 1 --version-name "$(version)" --java "$B/gen"
  log "javac + dx"
  javac -source 8 -target 8 -Xlint:-options -encoding UTF-8 -bootclasspath "$TOOLS/android.jar" -d "$B/classes" \
    $(find $APP/src/main/java "$B/gen" -name '*.java')
  java -cp "$TOOLS/dx.jar" com.android.dx.command.Main --dex --min-sdk-version=24 --output="$B/root/classes.dex" \
    "$B/classes"
  log "package, align, sign"
  cp "$B/base.apk" "$B/unsigned.apk"
  (cd "$B/root" && zip -q -r "$B/unsigned.apk" classes.dex assets lib)
  zipalign -f -p 4 "$B/unsigned.apk" "$B/aligned.apk"
  local ks=$OUT/debug.keystore
  [ -f "$ks" ] || keytool -genkeypair -keystore "$ks" -storepass android -keypass android -alias androiddebugkey \
    -keyalg RSA -keysize 2048 -validity 10000 -dname "CN=Android Debug,O=Android,C=US" >/dev/null 2>&1
  apksigner sign --ks "$ks" --ks-pass pass:android --key-pass pass:android --out "$B/signed.apk" "$B/aligned.apk"
  verify "$B/signed.apk"
  mv "$B/signed.apk" "$OUT/bnn-landmarks-demo.apk"
  log "$OUT/bnn-landmarks-demo.apk ($(du -h "$OUT/bnn-landmarks-demo.apk" | cut -f1))"
}

version() { "$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])'; }

verify() {
  local apk=$1 badging
  apksigner verify "$apk" || die "apksigner verify failed"
  zipalign -c -p 4 "$apk" || die "zipalign -c failed"
  badging=$(aapt dump badging "$apk")
  grep -q "^sdkVersion:'24'" <<<"$badging" || die "minSdk is not 24"
  grep -q "uses-permission: name='android.permission.CAMERA'" <<<"$badging" || die "no CAMERA permission"
  grep -q "native-code: 'arm64-v8a'" <<<"$badging" || die "no arm64-v8a native code"
  for abi in "${ABIS[@]}"; do
    unzip -l "$apk" "lib/$abi/libbnnjni.so" "lib/$abi/liblitert-lm.so" >/dev/null || die "lib/$abi incomplete"
  done
  for f in assets/face.tflite assets/face.json assets/face-real.tflite assets/face_detection_short_range.tflite classes.dex; do
    unzip -l "$apk" "$f" >/dev/null || die "$f missing from the APK"
  done
  echo "   verified: signature, alignment, minSdk 24, CAMERA, native code: $(sed -n "s/^native-code: //p" <<<"$badging")"
}

case "${1:-}" in
  tools) tools ;;
  native) tools && native ;;
  test) tools && native && test_ ;;
  apk) tools && native && apk ;;
  *) die "usage: $0 tools|native|test|apk" ;;
esac
