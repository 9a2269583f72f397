//! Every fuzz target's corpus (`fuzz/corpus/<target>/`) as an ordinary test,
//! so the inputs the fuzzer found interesting keep being checked without
//! libFuzzer or a nightly toolchain.

use std::path::Path;

fn corpus(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        run(&data);
        n += 1;
    }
    assert!(n >= 2, "{}: only {n} corpus files", dir.display());
    println!("{target}: {n} corpus inputs");
}

#[test]
fn config_corpus() {
    corpus("config", baton_tests::fuzzing::config);
}

#[test]
fn docker_output_corpus() {
    corpus("docker_output", baton_tests::fuzzing::docker);
}

#[test]
fn deploy_corpus() {
    corpus("deploy", baton_tests::fuzzing::deploy);
}

#[test]
fn journal_corpus() {
    corpus("journal", baton_tests::fuzzing::journal);
}
