//! Colour in text output: off into a pipe and under NO_COLOR, on with
//! `--color always` (for CI logs that render ANSI), off with `--color never`.

use std::process::Command;

fn verify(args: &[&str], no_color: bool) -> String {
    let doc = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testvectors/attestation/2024-09-07_us-east-1_blocky_nondebug_maxfields.b64"
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    c.args(["attestation", "verify", doc]).args(args);
    if no_color {
        c.env("NO_COLOR", "1");
    } else {
        c.env_remove("NO_COLOR");
    }
    let o = c.output().expect("run proofpack");
    assert_eq!(o.status.code(), Some(0));
    String::from_utf8(o.stdout).expect("utf8")
}

#[test]
fn color_follows_the_flag_then_the_terminal_and_no_color() {
    assert!(!verify(&[], false).contains('\u{1b}'), "a pipe is not a terminal");
    assert!(!verify(&[], true).contains('\u{1b}'));
    assert!(verify(&["--color", "always"], false).contains("\u{1b}["));
    assert!(!verify(&["--color", "never"], false).contains('\u{1b}'));
}
