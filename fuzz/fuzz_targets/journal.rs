#![no_main]
//! Fuzz target: see baton_tests::fuzzing::journal.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| baton_tests::fuzzing::journal(data));
