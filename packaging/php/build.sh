#!/usr/bin/env bash
# Builds php.wasm (PHP's CLI SAPI for wasm32-wasi) from Debian's php8.2 source with Debian's
# clang and wasi-libc plus polyrun's compat layer (compat/). Steps, each logged to
# $WORK/logs/<step>.log; a failing step is named and its log kept:
#
#   toolchain  install the Debian packages the build needs (when missing)
#   source     fetch the php8.2 source package (newest version first, older ones as fallback)
#   configure  unpack and configure for wasm32-wasi
#   make       build sapi/cli/php with the compat layer
#   install    copy the result to OUT and write OUT.json (version, sha256, recipe hash)
#
# Usage: build.sh OUT.wasm [exnref|legacy]
#   exnref  WebAssembly exception handling, final encoding (wasmtime; Chrome 137+, Firefox 131+)
#   legacy  the legacy encoding (node 20, Chrome 95+, Firefox 100+)
# setjmp/longjmp are lowered to WebAssembly exceptions either way (compat/sjlj.c), so PHP's fatal
# errors, exit() and uncaught exceptions unwind normally: shutdown functions run.
set -euo pipefail

OUT="${1:?usage: build.sh OUT.wasm [exnref|legacy]}"
EH="${2:-exnref}"
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${POLYRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/polyrun}"
# polyrun passes the hash of the recipe it embeds; run by hand, the files here are hashed.
RECIPE_HASH="${POLYRUN_RECIPE_HASH:-$(cat "$HERE/build.sh" "$HERE"/compat/*.c "$HERE"/compat/include/*.h | sha256sum | cut -c1-16)}"
WORK="${POLYRUN_PHP_WORK:-$CACHE/php-build/$RECIPE_HASH-$EH}"
LLVM=22
JOBS="${JOBS:-$(nproc)}"
mkdir -p "$WORK/logs"

case "$EH" in
  exnref) EH_FLAGS="-mllvm -wasm-enable-sjlj -mllvm -wasm-use-legacy-eh=false" ;;
  legacy) EH_FLAGS="-mllvm -wasm-enable-sjlj -mllvm -wasm-use-legacy-eh=true" ;;
  *) echo "build.sh: unknown exception-handling encoding '$EH' (exnref or legacy)" >&2; exit 2 ;;
esac

# Runs a step in a subshell with errexit really on (a function called from an `if` would run
# with errexit ignored), its output in the step's log.
step() {
  local name="$1"; shift
  echo "php.wasm: $name..."
  local rc=0
  set +e
  ( set -e; "$@" ) > "$WORK/logs/$name.log" 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "php.wasm: step '$name' failed; its log: $WORK/logs/$name.log" >&2
    tail -n 25 "$WORK/logs/$name.log" >&2
    exit 1
  fi
}

toolchain() {
  local pkgs="clang-$LLVM lld-$LLVM llvm-$LLVM libclang-rt-$LLVM-dev-wasm32 wasi-libc autoconf make pkg-config re2c bison xz-utils"
  local missing=""
  for p in $pkgs; do
    dpkg -s "$p" > /dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
  fi
  # clang finds wasi-libc through a sysroot of this shape.
  mkdir -p "$WORK/sysroot/lib" "$WORK/sysroot/include"
  local t
  for t in wasm32-wasi wasm32-wasip1; do
    ln -sfn /usr/lib/wasm32-wasi "$WORK/sysroot/lib/$t"
    ln -sfn /usr/include/wasm32-wasi "$WORK/sysroot/include/$t"
  done
}

# The source package, via a temporary deb-src entry (removed again). Debian sometimes lists a
# security version whose pool files are gone: every listed version is tried, newest first.
source_pkg() {
  local dir="$CACHE/php-src"
  mkdir -p "$dir"
  if ls "$dir"/php8.2_*.orig.tar.xz > /dev/null 2>&1; then
    echo "cached: $(ls "$dir"/php8.2_*.orig.tar.xz)"
    return 0
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  local list=/etc/apt/sources.list.d/polyrun-php-src.sources
  $sudo tee "$list" > /dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local found=1 v versions=""
  if $sudo apt-get update -q; then
    versions=$(apt-cache showsrc php8.2 | awk '/^Version:/ {print $2}' | sort -rV | uniq)
  fi
  for v in $versions; do
    echo "trying php8.2=$v"
    if (cd "$dir" && apt-get source --download-only "php8.2=$v"); then
      found=0
      break
    fi
    rm -f "$dir"/php8.2_*
  done
  # The deb-src entry goes again, whatever happened.
  $sudo rm -f "$list"
  if [ "$found" -ne 0 ]; then
    echo "no php8.2 source version could be downloaded (versions listed: ${versions:-none})"
  fi
  return "$found"
}

configure() {
  rm -rf "$WORK/src"
  mkdir -p "$WORK/src"
  tar -xf "$(ls "$CACHE"/php-src/php8.2_*.orig.tar.xz | head -n 1)" -C "$WORK/src" --strip-components=1
  cd "$WORK/src"
  # Source patches, each checked (a fallback version must not silently lose one):
  # - wasi-libc gives S_IFSOCK and S_IFIFO the same value;
  # - randomness comes from getrandom() (compat.c, over WASI's getentropy), not /dev/urandom;
  # - fibers need stack switching, which WebAssembly lacks: Fiber::start says so;
  sed -i 's/^\(\s*\)case S_IFSOCK: RETURN_STRING("socket");/#if S_IFSOCK != S_IFIFO\n&\n#endif/' \
    ext/standard/filestat.c
  grep -q '^#if S_IFSOCK != S_IFIFO' ext/standard/filestat.c
  sed -i 's/^# if (defined(__linux__) && defined(SYS_getrandom)) ||/# if defined(__wasi__) || (defined(__linux__) \&\& defined(SYS_getrandom)) ||/' \
    ext/random/random.c
  grep -q '^# if defined(__wasi__) || (defined(__linux__) && defined(SYS_getrandom)) ||' ext/random/random.c
  sed -i '/^ZEND_METHOD(Fiber, start)$/,/^}$/ s/^\tif (UNEXPECTED(zend_fiber_switch_blocked())) {$/\tzend_throw_error(zend_ce_fiber_error, "Fibers are not available in PHP on WebAssembly");\n\tRETURN_THROWS();\n&/' \
    Zend/zend_fibers.c
  grep -q 'Fibers are not available in PHP on WebAssembly' Zend/zend_fibers.c
  # - integers (and the date library's) are 64-bit, as in every PHP people run; pointers and
  #   size_t stay 32-bit.
  sed -i 's/^#if defined(__x86_64__) || defined(__LP64__) || defined(_LP64) || defined(_WIN64)$/& || defined(__wasm__)/' \
    Zend/zend_long.h
  grep -q '^#if defined(__x86_64__) || defined(__LP64__) || defined(_LP64) || defined(_WIN64) || defined(__wasm__)$' \
    Zend/zend_long.h
  sed -i 's/^#if (defined(__x86_64__) || defined(__LP64__) || defined(_LP64) || defined(_WIN64))/#if (defined(__x86_64__) || defined(__LP64__) || defined(_LP64) || defined(_WIN64) || defined(__wasm__))/' \
    ext/date/lib/timelib.h
  grep -q '^#if (defined(__x86_64__) || defined(__LP64__) || defined(_LP64) || defined(_WIN64) || defined(__wasm__)) && !defined(TIMELIB_FORCE_LONG32)$' \
    ext/date/lib/timelib.h
  CC="clang-$LLVM" AR="llvm-ar-$LLVM" RANLIB="llvm-ranlib-$LLVM" NM="llvm-nm-$LLVM" \
  CFLAGS="--target=wasm32-wasip1 --sysroot=$WORK/sysroot -O2 -I$HERE/compat/include \
    -D_WASI_EMULATED_GETPID -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_PROCESS_CLOCKS \
    -D_WASI_EMULATED_MMAN $EH_FLAGS" \
  LDFLAGS="--target=wasm32-wasip1 --sysroot=$WORK/sysroot" \
  ./configure --host=wasm32-unknown-wasi \
    --disable-all --enable-cli --disable-cgi --disable-phpdbg --without-valgrind \
    --disable-opcache --without-pcre-jit --disable-fiber-asm --disable-zend-signals \
    --without-pear --without-iconv --without-openssl --without-libxml --without-sqlite3 \
    --enable-ctype --enable-tokenizer --enable-mbstring --disable-mbregex --enable-bcmath \
    --enable-calendar --enable-filter \
    ac_cv_header_ucontext_h=yes ac_cv_func_getrusage=no
}

build() {
  cd "$WORK/src"
  local cflags="--target=wasm32-wasip1 --sysroot=$WORK/sysroot -O2 -I$HERE/compat/include \
    -D_WASI_EMULATED_GETPID -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_MMAN $EH_FLAGS"
  "clang-$LLVM" $cflags -c "$HERE/compat/compat.c" -o "$WORK/compat.o"
  "clang-$LLVM" $cflags -mexception-handling -c "$HERE/compat/sjlj.c" -o "$WORK/sjlj.o"
  # The compat header is forced in here, not at configure time (it would make configure's
  # function checks find functions that do not exist). clang would run an old wasm-opt that
  # cannot read exception handling: --no-wasm-opt.
  make -j"$JOBS" \
    EXTRA_CFLAGS="-include $HERE/compat/include/polyrun_compat.h" \
    EXTRA_LDFLAGS_PROGRAM="--no-wasm-opt -Wl,-z,stack-size=8388608 -Wl,--wrap=close" \
    EXTRA_LIBS="$WORK/compat.o $WORK/sjlj.o -lwasi-emulated-getpid -lwasi-emulated-signal -lwasi-emulated-process-clocks -lwasi-emulated-mman"
}

install_out() {
  local version
  version="$(ls "$CACHE"/php-src/php8.2_*.dsc | head -n 1 | sed 's/.*php8.2_\(.*\)\.dsc/\1/')"
  mkdir -p "$(dirname "$OUT")"
  cp "$WORK/src/sapi/cli/php" "$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
  cat > "$OUT.json" <<EOF
{"source": "debian php8.2 $version", "sha256": "$(sha256sum "$OUT" | cut -d' ' -f1)", "recipe": "$RECIPE_HASH", "exceptions": "$EH", "size": $(stat -c %s "$OUT")}
EOF
  cat "$OUT.json"
  # The build tree is large and rebuilt from the cached source if ever needed: keep the logs only.
  rm -rf "$WORK/src" "$WORK"/*.o
}

start=$(date +%s)
step toolchain toolchain
step source source_pkg
step configure configure
step make build
step install install_out
echo "php.wasm: built $OUT ($EH) in $(( $(date +%s) - start )) s"
cat "$OUT.json"
