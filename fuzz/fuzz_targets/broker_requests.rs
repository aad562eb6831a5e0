//! libFuzzer target: see `fuzz_checks::broker` for the input format and what counts as a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::broker::check(data));
