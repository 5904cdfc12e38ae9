//! Replays saved fuzz inputs through the `codec` fuzz harness, without libFuzzer.
//!
//! The harness file is the one the `codec` fuzz target runs (`fuzz/src/codec.rs`,
//! included here unchanged), so an input that crashed the fuzzer crashes this
//! test until the codec is fixed. Every file in `fuzz/regressions/codec/` is
//! replayed, and so is the seed corpus in `fuzz/corpus/codec/`, which must not
//! be empty: the test cannot pass by finding nothing to run.

use std::path::{Path, PathBuf};

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/codec.rs"]
mod codec_harness;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every input file in `dir`, sorted; a missing folder has none. Only dot
/// files (such as `.gitkeep`) are not inputs, and they are counted.
fn inputs(dir: &Path) -> (Vec<PathBuf>, usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (Vec::new(), 0);
    };
    let mut files = Vec::new();
    let mut dot_files = 0;
    for entry in entries {
        let path = entry.expect("readable folder entry").path();
        if !path.is_file() {
            continue;
        }
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            dot_files += 1;
            continue;
        }
        files.push(path);
    }
    files.sort();
    (files, dot_files)
}

fn replay(files: &[PathBuf]) {
    for path in files {
        let data = std::fs::read(path).expect("readable fuzz input");
        let outcome = std::panic::catch_unwind(|| codec_harness::check(&data));
        assert!(
            outcome.is_ok(),
            "fuzz input {} fails the codec harness",
            path.display()
        );
    }
}

#[test]
fn codec_regressions_and_seed_corpus_pass_the_harness() {
    let (regressions, skipped_r) = inputs(&fuzz_dir().join("regressions/codec"));
    let (seeds, skipped_s) = inputs(&fuzz_dir().join("corpus/codec"));
    assert!(
        !seeds.is_empty(),
        "no seed corpus at {}: the replay would test nothing",
        fuzz_dir().join("corpus/codec").display()
    );
    replay(&regressions);
    replay(&seeds);
    eprintln!(
        "replayed {} codec regression(s) and {} seed(s) ({} dot file(s) skipped)",
        regressions.len(),
        seeds.len(),
        skipped_r + skipped_s
    );
}
