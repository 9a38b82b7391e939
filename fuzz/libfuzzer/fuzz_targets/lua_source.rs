#![no_main]
//! libFuzzer on `polyrun_fuzz::lua_source`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| polyrun_fuzz::lua_source(data));
