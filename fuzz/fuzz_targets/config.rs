#![no_main]
//! Fuzz target: see baton_tests::fuzzing::config.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| baton_tests::fuzzing::config(data));
