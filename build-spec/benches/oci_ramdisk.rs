//! OCI image -> ramdisk conversion against `tar -x` of the same layers into
//! a tmpfs, measured in the same run; plus the converter's peak RSS.
//!
//! ```text
//! cargo bench -p proofpack-build-spec --bench oci_ramdisk            # ~500 MB image
//! OCI_BENCH_MB=100 cargo bench -p proofpack-build-spec --bench oci_ramdisk
//! ```
//!
//! The image (generated once, deterministic, under `target/oci-bench/`, never
//! in git) has three layers: many small files (1..16 KiB), a few large ones
//! (64+ MiB), and an upper layer with whiteouts and replaced files. It is
//! written twice: uncompressed layers and gzip layers.
//!
//! Each conversion runs in a child process (this binary re-executed with
//! `--convert`) so that its `VmHWM` (peak resident set) is the converter's
//! alone. Output ramdisk, spool (`TMPDIR`) and the `tar -x` target all live
//! on `/dev/shm`, so both sides write to the same tmpfs.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: [&[u8]; 16] = [
    b"enclave ",
    b"attest ",
    b"kernel ",
    b"ramdisk ",
    b"0x1f8b ",
    b"pcr ",
    b"sha384 ",
    b"layer ",
    b"digest ",
    b"\n",
    b"manifest ",
    b"whiteout ",
    b"9f86d081 ",
    b"proof ",
    b"pack ",
    b"nitro ",
];

/// Compressible-ish content (gzip ~3x), deterministic.
fn fill(rng: &mut Rng, buf: &mut Vec<u8>, len: usize) {
    buf.clear();
    while buf.len() < len {
        let r = rng.next();
        if r % 5 == 0 {
            buf.extend_from_slice(&r.to_le_bytes());
        } else {
            buf.extend_from_slice(WORDS[(r >> 8) as usize % 16]);
        }
    }
    buf.truncate(len);
}

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h
}

/// Writes the layer tars; returns their paths.
fn gen_layers(dir: &Path, total_mb: u64) -> Vec<PathBuf> {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut buf = Vec::new();
    let small_budget = total_mb * 1024 * 1024 * 35 / 100;
    let large_budget = total_mb * 1024 * 1024 * 60 / 100;
    let mut paths = Vec::new();
    // Layer 0: many small files in a deep-ish tree.
    let p0 = dir.join("layer0.tar");
    let mut b = tar::Builder::new(BufWriter::new(std::fs::File::create(&p0).unwrap()));
    let mut used = 0u64;
    let mut i = 0u64;
    let mut dirs = std::collections::BTreeSet::new();
    while used < small_budget {
        let d = format!("usr/share/pkg{:03}/sub{:02}", i / 400, (i / 20) % 20);
        for anc in [
            "usr".to_string(),
            "usr/share".to_string(),
            format!("usr/share/pkg{:03}", i / 400),
            d.clone(),
        ] {
            if dirs.insert(anc.clone()) {
                let mut h = header(0, 0o755, tar::EntryType::Directory);
                b.append_data(&mut h, &anc, &[][..]).unwrap();
            }
        }
        let len = 1024 + (rng.next() % (15 * 1024)) as usize;
        fill(&mut rng, &mut buf, len);
        let mut h = header(len as u64, 0o644, tar::EntryType::Regular);
        b.append_data(&mut h, format!("{d}/file{i:06}.txt"), &buf[..]).unwrap();
        used += len as u64;
        i += 1;
    }
    b.into_inner().unwrap().flush().unwrap();
    paths.push(p0);
    // Layer 1: a few large files.
    let p1 = dir.join("layer1.tar");
    let mut b = tar::Builder::new(BufWriter::new(std::fs::File::create(&p1).unwrap()));
    let mut h = header(0, 0o755, tar::EntryType::Directory);
    b.append_data(&mut h, "opt", &[][..]).unwrap();
    let n_large = (large_budget / (64 << 20)).max(1);
    let each = large_budget / n_large;
    for k in 0..n_large {
        // Streamed in 1 MiB chunks through a reader to keep generation lean.
        let mut chunk_rng = Rng(0x1234 + k);
        let mut data = Vec::with_capacity(each as usize);
        let mut c = Vec::new();
        while (data.len() as u64) < each {
            fill(&mut chunk_rng, &mut c, (1 << 20).min((each - data.len() as u64) as usize));
            data.extend_from_slice(&c);
        }
        let mut h = header(each, 0o755, tar::EntryType::Regular);
        b.append_data(&mut h, format!("opt/big{k}.bin"), &data[..]).unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
    paths.push(p1);
    // Layer 2: whiteouts, an opaque dir, replaced files.
    let p2 = dir.join("layer2.tar");
    let mut b = tar::Builder::new(BufWriter::new(std::fs::File::create(&p2).unwrap()));
    let mut h = header(0, 0o644, tar::EntryType::Regular);
    b.append_data(&mut h, "usr/share/pkg000/.wh.sub00", &[][..]).unwrap();
    let mut h = header(0, 0o755, tar::EntryType::Directory);
    b.append_data(&mut h, "usr/share/pkg001", &[][..]).unwrap();
    let mut h = header(0, 0o644, tar::EntryType::Regular);
    b.append_data(&mut h, "usr/share/pkg001/.wh..wh..opq", &[][..]).unwrap();
    for j in 0..200 {
        fill(&mut rng, &mut buf, 4096);
        let mut h = header(4096, 0o600, tar::EntryType::Regular);
        b.append_data(
            &mut h,
            format!("usr/share/pkg002/sub00/file{:06}.txt", 800 + j % 20)
                .replace("file", &format!("v{j}-")),
            &buf[..],
        )
        .unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
    paths.push(p2);
    paths
}

fn sha256_file(p: &Path) -> String {
    let mut h = Sha256::new();
    std::io::copy(&mut std::fs::File::open(p).unwrap(), &mut h).unwrap();
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn put_blob(layout: &Path, src: &Path) -> (String, u64) {
    let d = sha256_file(src);
    let dst = layout.join("blobs/sha256").join(&d[7..]);
    if !dst.exists() {
        std::fs::copy(src, &dst).unwrap();
    }
    (d, std::fs::metadata(&dst).unwrap().len())
}

fn put_bytes(layout: &Path, b: &[u8]) -> (String, u64) {
    let d = format!("sha256:{}", hex::encode(Sha256::digest(b)));
    std::fs::write(layout.join("blobs/sha256").join(&d[7..]), b).unwrap();
    (d, b.len() as u64)
}

/// Builds a layout from layer files (gzip-compressing them if asked).
fn make_layout(layout: &Path, layers: &[PathBuf], gzip: bool) -> String {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        diff_ids.push(sha256_file(l));
        let (src, mt) = if gzip {
            let gz = l.with_extension("tar.gz");
            if !gz.exists() {
                let mut e = flate2::write::GzEncoder::new(
                    BufWriter::new(std::fs::File::create(&gz).unwrap()),
                    flate2::Compression::new(6),
                );
                std::io::copy(&mut std::fs::File::open(l).unwrap(), &mut e).unwrap();
                e.finish().unwrap().flush().unwrap();
            }
            (gz, "application/vnd.oci.image.layer.v1.tar+gzip")
        } else {
            (l.clone(), "application/vnd.oci.image.layer.v1.tar")
        };
        let (d, size) = put_blob(layout, &src);
        descs.push(serde_json::json!({"mediaType": mt, "digest": d, "size": size}));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/opt/big0.bin"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []
    }))
    .unwrap();
    let (cd, cs) = put_bytes(layout, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": descs
    }))
    .unwrap();
    let (md, ms) = put_bytes(layout, &manifest);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    md
}

/// Fields of a /proc/<pid>/stat line after the `(comm)` field, 1-based as
/// in proc(5) (so `field(s, 14)` is utime).
fn stat_field(stat: &str, n: usize) -> u64 {
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(n - 3).unwrap().parse().unwrap()
}

fn vm_hwm_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child mode: convert and print "seconds hwm_kib ramdisk_bytes spool_bytes".
fn child(layout: &str, digest: &str, out: &str) {
    let start = Instant::now();
    // The same output path as `proofpack oci ramdisk`: written through and
    // hashed (SHA-256 + SHA-384 for PCR2) on a helper thread.
    let f = build_spec::oci::DigestingWriter::new(std::fs::File::create(out).unwrap());
    let (conv, f) = build_spec::oci::write_ramdisk(
        Path::new(layout),
        digest.parse().unwrap(),
        &build_spec::oci::Platform::linux_amd64(),
        0,
        f,
    )
    .unwrap();
    let (file, _digests) = f.finish().unwrap();
    drop(file);
    let secs = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(out).unwrap().len();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let cpu_ticks = stat_field(&stat, 14) + stat_field(&stat, 15);
    println!("{secs} {} {size} {} {} {cpu_ticks}", vm_hwm_kib(), conv.spooled_bytes, conv.entries);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--convert" {
        child(&args[2], &args[3], &args[4]);
        return;
    }
    // `cargo test --all-targets` runs this binary without `--bench`: do not
    // generate half a gigabyte then.
    if !args.iter().any(|a| a == "--bench") {
        println!("oci_ramdisk: run with `cargo bench -p proofpack-build-spec --bench oci_ramdisk`");
        return;
    }
    let total_mb: u64 =
        std::env::var("OCI_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let reps: usize =
        std::env::var("OCI_BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let target = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/oci-bench")
        .join(format!("{total_mb}mb"));
    std::fs::create_dir_all(&target).unwrap();
    let layers_dir = target.join("layers");
    std::fs::create_dir_all(&layers_dir).unwrap();
    let layers = if layers_dir.join("layer2.tar").exists() {
        (0..3).map(|i| layers_dir.join(format!("layer{i}.tar"))).collect::<Vec<_>>()
    } else {
        eprintln!("generating a ~{total_mb} MB image in {} ...", target.display());
        gen_layers(&layers_dir, total_mb)
    };
    let raw_bytes: u64 = layers.iter().map(|l| std::fs::metadata(l).unwrap().len()).sum();
    let shm = PathBuf::from("/dev/shm").join(format!("oci-bench-{}", std::process::id()));
    std::fs::create_dir_all(&shm).unwrap();
    let me = std::env::current_exe().unwrap();
    println!(
        "image: {} layers, {:.1} MiB of uncompressed tar; {reps} runs each, median",
        layers.len(),
        raw_bytes as f64 / 1048576.0
    );
    for gzip in [false, true] {
        let layout = target.join(if gzip { "layout-gzip" } else { "layout-tar" });
        let digest = make_layout(&layout, &layers, gzip);
        let blobs: Vec<PathBuf> = layers
            .iter()
            .map(|l| if gzip { l.with_extension("tar.gz") } else { l.clone() })
            .collect();
        let mut conv_t = Vec::new();
        let mut tar_t = Vec::new();
        let mut conv_cpu = Vec::new();
        let mut tar_cpu = Vec::new();
        let mut floor_cpu = Vec::new();
        let mut hwm = 0;
        let mut info = String::new();
        for _ in 0..reps {
            // tar -x of the same layers, in order, into a fresh tmpfs dir.
            let x = shm.join("x");
            let _ = std::fs::remove_dir_all(&x);
            std::fs::create_dir_all(&x).unwrap();
            let script: Vec<String> = blobs
                .iter()
                .map(|b| {
                    format!(
                        "tar {} '{}' -C '{}'",
                        if gzip { "-xzf" } else { "-xf" },
                        b.display(),
                        x.display()
                    )
                })
                .collect();
            // The shell's cutime+cstime after the tars = their CPU time
            // (gzip children included).
            let t = Instant::now();
            let o = Command::new("sh")
                .arg("-c")
                .arg(format!("{} && cat /proc/$$/stat", script.join(" && ")))
                .output()
                .unwrap();
            tar_t.push(t.elapsed().as_secs_f64());
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let stat = String::from_utf8(o.stdout).unwrap();
            tar_cpu.push((stat_field(&stat, 16) + stat_field(&stat, 17)) as f64 / 100.0);
            std::fs::remove_dir_all(&x).unwrap();
            // Conversion in a child (spool and output on the same tmpfs).
            let out = shm.join("app.cpio");
            let o = Command::new(&me)
                .args(["--convert", layout.to_str().unwrap(), &digest, out.to_str().unwrap()])
                .env("TMPDIR", &shm)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let line = String::from_utf8(o.stdout).unwrap();
            let f: Vec<&str> = line.split_whitespace().collect();
            conv_t.push(f[0].parse::<f64>().unwrap());
            conv_cpu.push(f[5].parse::<f64>().unwrap() / 100.0);
            hwm = hwm.max(f[1].parse::<u64>().unwrap());
            info = format!(
                "ramdisk {:.1} MiB, spool {:.1} MiB, {} entries",
                f[2].parse::<f64>().unwrap() / 1048576.0,
                f[3].parse::<f64>().unwrap() / 1048576.0,
                f[4].trim()
            );
            // The work no converter can skip, for scale: verifying the layer
            // blobs (sha256sum) and the PCR2 content hash of a ramdisk of
            // this size (sha384sum), by coreutils.
            let o = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "sha256sum {} >/dev/null && sha384sum '{}' >/dev/null && cat /proc/$$/stat",
                    blobs
                        .iter()
                        .map(|b| format!("'{}'", b.display()))
                        .collect::<Vec<_>>()
                        .join(" "),
                    out.display()
                ))
                .output()
                .unwrap();
            let stat = String::from_utf8(o.stdout).unwrap();
            floor_cpu.push((stat_field(&stat, 16) + stat_field(&stat, 17)) as f64 / 100.0);
            std::fs::remove_file(&out).unwrap();
        }
        let (c, t) = (median(conv_t), median(tar_t));
        let (cc, tc) = (median(conv_cpu), median(tar_cpu));
        println!(
            "{:<4} layers: wall: convert {c:.2} s, tar -x {t:.2} s, ratio {:.2}x | CPU (user+sys): convert {cc:.2} s, tar -x {tc:.2} s, ratio {:.2}x | peak RSS (VmHWM) {:.1} MiB | {info}",
            if gzip { "gzip" } else { "tar" },
            c / t,
            cc / tc,
            hwm as f64 / 1024.0
        );
        let fc = median(floor_cpu);
        println!(
            "     mandatory hashing alone (sha256sum of the blobs + sha384sum of the ramdisk): CPU {fc:.2} s = {:.2}x tar -x",
            fc / tc
        );
    }
    let _ = std::fs::remove_dir_all(&shm);
}
