//! Natively there is nothing to do: mlua's `vendored` feature builds Lua.
//!
//! For wasm32 (the browser bundle) lua-src refuses `wasm32-unknown-unknown`, so this script has it
//! compile the same Lua 5.4 sources for `wasm32-wasip1` with Debian's clang 22 and wasi-libc
//! (installed by `scripts/wasm-toolchain.sh`), with two changes:
//! - setjmp/longjmp (Lua's error handling) in the *legacy* WebAssembly exception encoding, which
//!   every browser since 2021 runs (lua-src asks for the newer exnref one; a tiny compiler wrapper
//!   swaps the flag), with polyrun's setjmp runtime (`packaging/php/compat/sjlj.c`, shared with
//!   php.wasm);
//! - wasi-libc's `libc.a` linked in. The WASI functions it imports are answered inside the module
//!   by `src/wasm_libc.rs`, so the bundle imports nothing but wasm-bindgen's glue.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's clang for wasm32, from `scripts/wasm-toolchain.sh`.
const CLANG: &str = "clang-22";
/// Debian's wasi-libc.
const WASI_INCLUDE: &str = "/usr/include/wasm32-wasi";
const WASI_LIB: &str = "/usr/lib/wasm32-wasi";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("wasm32") {
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let compat = manifest.join("../../packaging/php/compat");
    println!("cargo:rerun-if-changed={}", compat.join("sjlj.c").display());
    println!(
        "cargo:rerun-if-changed={}",
        compat.join("include/setjmp.h").display()
    );
    if Command::new(CLANG).arg("--version").output().is_err()
        || !Path::new(WASI_LIB).join("libc.a").exists()
    {
        panic!(
            "polyrun-lua for wasm32 needs Debian's {CLANG} and wasi-libc: run the build through \
             scripts/wasm-toolchain.sh, which installs them"
        );
    }

    // The compiler: clang 22 with the legacy exception encoding whatever lua-src asks for.
    let wrapper = out.join("clang-wasm32");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\
             for a; do shift; [ \"$a\" = -wasm-use-legacy-eh=false ] && a=-wasm-use-legacy-eh=true; \
             set -- \"$@\" \"$a\"; done\n\
             exec {CLANG} \"$@\"\n"
        ),
    )
    .expect("write the compiler wrapper");
    make_executable(&wrapper);
    let flags = format!(
        "-I{} -isystem {WASI_INCLUDE} -D_WASI_EMULATED_PROCESS_CLOCKS -mllvm -wasm-enable-eh \
         -mllvm -wasm-enable-sjlj -mllvm -wasm-use-legacy-eh=true",
        compat.join("include").display()
    );
    // SAFETY (edition 2024 marks set_var unsafe): build scripts are single-threaded here, and
    // cc reads these variables below in this same process.
    unsafe {
        env::set_var("CC_wasm32_wasip1", &wrapper);
        env::set_var("CFLAGS_wasm32_wasip1", &flags);
        env::set_var("AR_wasm32_wasip1", "llvm-ar-22");
    }

    let lua = lua_src::Build::new()
        .target("wasm32-wasip1")
        .host(&env::var("HOST").expect("HOST"))
        .out_dir(out.join("lua"))
        .opt_level("s")
        .debug(false)
        .try_build(lua_src::Lua54)
        .unwrap_or_else(|e| panic!("building Lua 5.4 for wasm32: {e}"));

    cc::Build::new()
        .target("wasm32-wasip1")
        .compiler(&wrapper)
        .archiver("llvm-ar-22")
        .opt_level_str("s")
        .debug(false)
        .warnings(false)
        .file(compat.join("sjlj.c"))
        .out_dir(out.join("sjlj"))
        .compile("polyrun_sjlj");

    println!("cargo:rustc-link-search=native={}", lua.lib_dir().display());
    println!("cargo:rustc-link-lib=static=lua5.4");
    println!("cargo:rustc-link-search=native={WASI_LIB}");
    println!("cargo:rustc-link-lib=static=wasi-emulated-process-clocks");
    println!("cargo:rustc-link-lib=static=wasi-emulated-signal");
    println!("cargo:rustc-link-lib=static=c");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut p = fs::metadata(path).expect("wrapper metadata").permissions();
    p.set_mode(0o755);
    fs::set_permissions(path, p).expect("chmod the compiler wrapper");
}
