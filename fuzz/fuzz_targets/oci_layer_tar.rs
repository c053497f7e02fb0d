//! Layer tar handling of the OCI converter: arbitrary bytes as up to three
//! stacked layer tars (whiteouts, links, paths, PAX headers). Must never
//! panic, and whatever it accepts must keep the index invariants (normal
//! paths, directories above every entry).
#![no_main]

use build_spec::oci::tree::Tree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n as usize % 3) + 1;
    let chunk = rest.len().div_ceil(n).max(1);
    let Ok(mut tree) = Tree::new() else { return };
    for (i, layer) in rest.chunks(chunk).enumerate() {
        if tree.apply_verified_tar(i, layer).is_err() {
            return;
        }
    }
    if let Err(e) = tree.check_invariants() {
        panic!("invariant broken: {e}");
    }
});
