//! Image assembly (both cpio ramdisks + EIF + PCR0/1/2, all in memory, as
//! `proofpack build` does after compiling) against the physical limit: one
//! plain single-core SHA-384 pass over the finished EIF's bytes, measured in
//! the same run.
//!
//! ```text
//! cargo bench -p proofpack-build-spec --bench assemble
//! ```
//!
//! Inputs are sized like a real image: 8 MiB kernel, 1 MiB init, 16 MiB
//! application, a 64 KiB rootfs file; pseudo-random bytes. Each method runs
//! `REPS` times and the fastest run is reported (the machine is shared).
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a small
//! smoke run that checks the assembled image's PCRs against the reader's.

use std::time::{Duration, Instant};

use build_spec::build::layout::{assemble, MetadataInputs, RamdiskInputs};
use build_spec::spec::Spec;
use sha2::{Digest, Sha384};

const REPS: usize = 5;

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

const SPEC: &str = r#"spec_version = 1
[image]
name = "bench"
version = "1.0"
arch = "x86_64"
cmdline = "reboot=k panic=30 pci=off nomodules console=ttyS0"
[toolchain]
release = "1.95.0"
commit_hash = "59807616e1fa2540724bfbac14d7976d7e4a3860"
[time]
source_date_epoch = 1700000000
[cargo]
workspace = "."
target = "x86_64-unknown-linux-musl"
profile = "release"
[init]
package = "p"
bin = "init"
[app]
package = "p"
bin = "app"
[profiles.demo]
kernel = "demo-stand-in"
"#;

fn best(mut f: impl FnMut()) -> Duration {
    (0..REPS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let scale: usize = if bench { 1 } else { 64 };
    let spec = Spec::parse(SPEC.as_bytes()).expect("spec");
    let kernel = random((8 << 20) / scale, 1);
    let init = random((1 << 20) / scale, 2);
    let app = random((16 << 20) / scale, 3);
    let rootfs = vec![("etc/conf".to_string(), 0o644, "conf".to_string(), random(64 << 10, 4))];
    let inputs = RamdiskInputs {
        init: &init,
        nsm_ko: Some(b"nsm"),
        modules: &[],
        app_bin: &app,
        app_name: "app",
        args: &[],
        env: &[],
        rootfs_files: &rootfs,
    };
    let meta = || MetadataInputs {
        source_date_epoch: 1_700_000_000,
        operating_system: "Linux".into(),
        kernel_version: "0".into(),
        profile: "demo",
        spec_sha256: "0".repeat(64),
        toolchain_mismatch_allowed: false,
        not_bootable: true,
    };
    let img = assemble(&spec, &inputs, &kernel, meta()).expect("assemble");
    let read =
        build_spec::eif::read_eif(&img.eif[..], Some(img.eif.len() as u64), &Default::default())
            .expect("read back");
    assert_eq!(read.measurements(), img.measurements, "assembled PCRs disagree with the reader");
    if !bench {
        println!("assemble smoke run ok ({} bytes)", img.eif.len());
        return;
    }
    let t_asm = best(|| {
        let i = assemble(&spec, &inputs, &kernel, meta()).expect("assemble");
        std::hint::black_box(i);
    });
    let t_sha = best(|| {
        std::hint::black_box(Sha384::digest(&img.eif));
    });
    let mib = img.eif.len() as f64 / (1 << 20) as f64;
    println!("EIF size                    {mib:.1} MiB");
    println!(
        "plain SHA-384 over the EIF  {:>8.1} ms  ({:.0} MiB/s)",
        t_sha.as_secs_f64() * 1e3,
        mib / t_sha.as_secs_f64()
    );
    println!(
        "assemble (cpio+EIF+PCRs)    {:>8.1} ms  ({:.0} MiB/s)",
        t_asm.as_secs_f64() * 1e3,
        mib / t_asm.as_secs_f64()
    );
    println!("ratio assemble / SHA-384    {:>8.2}x", t_asm.as_secs_f64() / t_sha.as_secs_f64());
}
