#![no_main]
//! libFuzzer on `polyrun_fuzz::python_source`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| polyrun_fuzz::python_source(data));
