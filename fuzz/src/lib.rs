//! The checks behind the fuzz targets, one module per target.
//!
//! Each `check` takes arbitrary bytes and panics (the fuzzer's crash) only when the broker
//! breaks a promise: a panic inside it, an error where there must be none, or an invariant
//! of its module doc that does not hold. The libFuzzer binaries in `fuzz_targets/` call them;
//! `reference/tests/fuzz_regressions.rs` includes these same files and replays the committed
//! corpus and every crash reproducer on stable Rust, so plain `cargo test` keeps each find
//! fixed without nightly or libFuzzer.
//!
//! # References
//! - libFuzzer: <https://llvm.org/docs/LibFuzzer.html>
//! - cargo-fuzz: <https://rust-fuzz.github.io/book/cargo-fuzz.html>

pub mod broker;
pub mod log_recovery;
pub mod record_batch;
