#![no_main]
//! libFuzzer on `polyrun_fuzz::helper_calls`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| polyrun_fuzz::helper_calls(data));
