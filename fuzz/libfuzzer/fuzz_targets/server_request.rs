#![no_main]
//! libFuzzer on `polyrun_fuzz::server_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| polyrun_fuzz::server_request(data));
