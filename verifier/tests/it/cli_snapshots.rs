//! Snapshot tests of the command line: every `--help` (nested subcommands
//! included), typical error messages and their exit codes.
//!
//! The cases are `tests/cmd/*.md` (console transcripts) and `tests/cmd/*.toml`
//! (one command each, for input files and environment). After an intended
//! change to help or error text, regenerate them with
//! `TRYCMD=overwrite cargo test -p proofpack --test it cli_snapshots` and review
//! the diff: help text and messages are an interface users script against.

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .register_bin("proofpack", std::path::Path::new(env!("CARGO_BIN_EXE_proofpack")))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .case("tests/cmd/*.toml")
        .case("tests/cmd/*.md");
}
