#!/usr/bin/env bash
# A Rust toolchain that builds for wasm32-unknown-unknown, on any machine of ours:
#   - rustup's wasm32 target where it is installed (a normal developer laptop);
#   - otherwise Debian's rustc-web + its std source + -Zbuild-std, unpacked (not installed) into
#     the cache, as verified in docs/wasm-toolchain.md. Idempotent; the second call does nothing.
#
# Usage:
#   scripts/wasm-toolchain.sh cargo build -p polyrun-engine   # cargo with the right env + flags
#   eval "$(scripts/wasm-toolchain.sh env)"                    # the environment, for other tools
set -euo pipefail

CACHE="${POLYRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/polyrun}"
PREFIX="$CACHE/rustc-web"
TARGET=wasm32-unknown-unknown
export CARGO_TARGET_DIR="${POLYRUN_WASM_TARGET_DIR:-$CACHE/target-wasm}"

say() { echo "wasm-toolchain: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root for: $*"; return 1; fi
}

have_rustup_target() {
  command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"
}

install_debian_toolchain() {
  # Unpacked already, and its shared libraries (installed packages) still there: nothing to do.
  if [ -x "$PREFIX/usr/bin/rustc" ] && [ -d "$PREFIX/usr/lib/rustlib/src/rust/library" ] &&
     LD_LIBRARY_PATH="$PREFIX/usr/lib/x86_64-linux-gnu" "$PREFIX/usr/bin/rustc" --version >/dev/null 2>&1; then
    return 0
  fi
  command -v apt-get >/dev/null || { say "no rustup wasm32 target and no apt-get: install the target with 'rustup target add $TARGET'"; exit 1; }
  if ! apt-cache policy rustc-web 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    as_root apt-get update -qq
  fi
  local ver short deps
  ver=$(apt-cache policy rustc-web | awk '/Candidate:/ {print $2}')
  short=$(echo "$ver" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
  say "unpacking Debian rustc-web $ver into $PREFIX"
  local debs="$CACHE/debs-$ver"
  mkdir -p "$debs"
  (cd "$debs" && apt-get download -q \
      "rustc-web=$ver" "libstd-rust-web-$short=$ver" "libstd-rust-web-dev=$ver" \
      "cargo-web=$ver" "rust-web-src=$ver" >&2)
  # Shared libraries the unpacked binaries need, taken from the packages' own dependencies.
  deps=$(apt-cache show "libstd-rust-web-$short=$ver" "cargo-web=$ver" | grep '^Depends:' \
         | grep -oE 'lib(llvm[0-9]+|git2-[0-9.]+|ssh2-1)\b' | sort -u | tr '\n' ' ')
  if [ -n "$deps" ]; then
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $deps >&2
  fi
  local tmp="$PREFIX.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$tmp"; done
  rm -rf "$PREFIX" && mv "$tmp" "$PREFIX"
}

# C for wasm32 (Lua's sources in the bundle, built by runtimes/lua/build.rs): Debian's clang,
# lld and wasi-libc.
C_PACKAGES="clang-22 lld-22 llvm-22 wasi-libc libclang-rt-22-dev-wasm32"
ensure_c_toolchain() {
  if command -v clang-22 >/dev/null && command -v wasm-ld-22 >/dev/null &&
     [ -f /usr/lib/wasm32-wasi/libc.a ] && dpkg -s libclang-rt-22-dev-wasm32 >/dev/null 2>&1; then
    return 0
  fi
  command -v apt-get >/dev/null || { say "need clang 22 with wasi-libc for wasm32 C code (Lua): $C_PACKAGES"; exit 1; }
  say "installing the C toolchain for wasm32: $C_PACKAGES"
  as_root apt-get update -qq >&2
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $C_PACKAGES >&2
}

print_env() {
  ensure_c_toolchain
  if have_rustup_target; then
    echo "export CARGO_TARGET_DIR='$CARGO_TARGET_DIR'"
    echo "export POLYRUN_WASM_MODE=rustup"
    return
  fi
  install_debian_toolchain
  # Debian's package has no rust-lld; rustup's host toolchain has one.
  local lld
  lld="$(rustc +stable --print sysroot 2>/dev/null || rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
  [ -x "$lld" ] || { say "rust-lld not found at $lld"; exit 1; }
  echo "export CARGO_TARGET_DIR='$CARGO_TARGET_DIR'"
  echo "export POLYRUN_WASM_MODE=debian"
  echo "export PATH='$PREFIX/usr/bin':\"\$PATH\""
  echo "export LD_LIBRARY_PATH='$PREFIX/usr/lib/x86_64-linux-gnu'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
  echo "export RUSTC_BOOTSTRAP=1"
  echo "export RUSTUP_TOOLCHAIN="
  echo "export RUSTC='$PREFIX/usr/bin/rustc'"
  echo "export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER='$lld'"
}

case "${1:-}" in
  env) print_env ;;
  cargo)
    shift
    eval "$(print_env)"
    sub="$1"; shift
    if [ "$POLYRUN_WASM_MODE" = debian ]; then
      exec "$PREFIX/usr/bin/cargo" "$sub" -Zbuild-std=std,panic_abort --target "$TARGET" "$@"
    else
      exec cargo "$sub" --target "$TARGET" "$@"
    fi
    ;;
  *) echo "usage: $0 env | cargo SUBCOMMAND [ARGS...]" >&2; exit 2 ;;
esac
