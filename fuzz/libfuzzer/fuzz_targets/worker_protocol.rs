#![no_main]
//! libFuzzer on `polyrun_fuzz::worker_protocol`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| polyrun_fuzz::worker_protocol(data));
