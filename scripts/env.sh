# Sourced (not run) by the other scripts, from the repository's root:
#   - the build cache outside the clone (CARGO_TARGET_DIR), so CI and later runs reuse it;
#   - a Rust toolchain at least as new as the workspace's `rust-version` (Cargo.toml, the one
#     source of that number). The default `rustc` when it is new enough (a current stable);
#     otherwise an installed rustup toolchain that is, with clippy; otherwise rustup installs
#     the current stable. The choice is exported as RUSTUP_TOOLCHAIN; an explicit
#     RUSTUP_TOOLCHAIN is kept as it is.

POLYRUN_CACHE="${POLYRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/polyrun}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$POLYRUN_CACHE/target}"

polyrun_msrv="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"

# The x.y.z of a toolchain's rustc (the default one without an argument), empty if none.
polyrun_rustc_version() {
  rustc ${1:+"+$1"} --version 2>/dev/null | awk '{print $2}' | sed 's/-.*//'
}

# Whether version $1 is at least the workspace's rust-version.
polyrun_new_enough() {
  [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$polyrun_msrv" "$1" | sort -V | head -n1)" = "$polyrun_msrv" ]
}

polyrun_pick_toolchain() {
  [ -n "${RUSTUP_TOOLCHAIN:-}" ] && return 0
  polyrun_new_enough "$(polyrun_rustc_version)" && return 0
  command -v rustup >/dev/null || {
    echo "polyrun: rustc $(polyrun_rustc_version) is older than the workspace's rust-version $polyrun_msrv; install a newer Rust" >&2
    return 1
  }
  local tc attempt
  for attempt in installed fresh; do
    if [ "$attempt" = fresh ]; then
      echo "polyrun: no installed toolchain has rustc >= $polyrun_msrv; installing the current stable" >&2
      timeout 900 rustup toolchain install stable --profile minimal -c clippy -c rustfmt >&2 || true
    fi
    for tc in $(rustup toolchain list 2>/dev/null | awk '{print $1}'); do
      if polyrun_new_enough "$(polyrun_rustc_version "$tc")" &&
         rustup component list --installed --toolchain "$tc" 2>/dev/null | grep -q '^clippy'; then
        # Said once per cache and toolchain, not on every command.
        local said="$POLYRUN_CACHE/toolchain-said-$tc"
        if [ ! -e "$said" ]; then
          echo "polyrun: the default rustc is older than the workspace's rust-version $polyrun_msrv; using $tc ($(rustc +"$tc" --version))" >&2
          mkdir -p "$POLYRUN_CACHE" && : >"$said" || true
        fi
        export RUSTUP_TOOLCHAIN="$tc"
        return 0
      fi
    done
  done
  echo "polyrun: no Rust toolchain >= $polyrun_msrv could be found or installed" >&2
  return 1
}

polyrun_pick_toolchain
