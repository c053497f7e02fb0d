//! Helpers shared by the EIF integration tests: hand-made images.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Section type values.
pub const KERNEL: u16 = 1;
pub const CMDLINE: u16 = 2;
pub const RAMDISK: u16 = 3;
pub const SIGNATURE: u16 = 4;
pub const METADATA: u16 = 5;

pub fn vector_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/eif").join(name)
}

pub fn tiny() -> Vec<u8> {
    std::fs::read(vector_dir("tiny/image.eif")).expect("tiny vector")
}

/// CRC as the spec defines it for a file without trailing bytes.
pub fn crc_of(img: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&img[..544]);
    h.update(&img[548..]);
    h.finalize()
}

pub fn fix_crc(img: &mut [u8]) {
    let c = crc_of(img);
    img[544..548].copy_from_slice(&c.to_be_bytes());
}

/// An image with arbitrary sections `(type, flags, data)`, a correct offset
/// table (for the first 32) and a correct CRC.
pub fn raw_eif(version: u16, sections: &[(u16, u16, &[u8])]) -> Vec<u8> {
    let mut img = vec![0u8; 548];
    img[..4].copy_from_slice(b".eif");
    img[4..6].copy_from_slice(&version.to_be_bytes());
    img[8..16].copy_from_slice(&0x4000_0000u64.to_be_bytes());
    img[16..24].copy_from_slice(&2u64.to_be_bytes());
    img[26..28].copy_from_slice(&(sections.len().min(32) as u16).to_be_bytes());
    for (i, (ty, flags, data)) in sections.iter().enumerate() {
        if i < 32 {
            let off = img.len() as u64;
            img[0x1C + 8 * i..0x24 + 8 * i].copy_from_slice(&off.to_be_bytes());
            img[0x11C + 8 * i..0x124 + 8 * i].copy_from_slice(&(data.len() as u64).to_be_bytes());
        }
        img.extend_from_slice(&ty.to_be_bytes());
        img.extend_from_slice(&flags.to_be_bytes());
        img.extend_from_slice(&(data.len() as u64).to_be_bytes());
        img.extend_from_slice(data);
    }
    fix_crc(&mut img);
    img
}

pub const META: &[u8] = br#"{"ImageName":"t","ImageVersion":"1","BuildMetadata":{"BuildTime":"1970-01-01T00:00:00+00:00","BuildTool":"t","BuildToolVersion":"0","OperatingSystem":"Linux","KernelVersion":"0"},"DockerInfo":null,"CustomMetadata":null}"#;

pub mod oci_fixtures;
pub mod tiny_spec;
