#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kcerts_fuzz::cert(data));
