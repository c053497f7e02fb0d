//! Every prefix of a valid input is rejected with a typed error, never a
//! panic: the streaming EIF and cpio readers, fed real vectors cut short.

use crate::common;

use build_spec::cpio::{
    read_entries, write_files, CpioError, CpioOptions, EntryHeader, FileSource,
};
use build_spec::eif::{read_eif, EifError, ReadOptions};

#[test]
fn every_eif_prefix_is_rejected() {
    let img = common::tiny();
    let opts = ReadOptions::default();
    assert!(read_eif(&img[..], Some(img.len() as u64), &opts).is_ok());
    for n in 0..img.len() {
        let cut = &img[..n];
        // Both with the file length known up front and as a bare stream.
        for len in [Some(n as u64), None] {
            match read_eif(cut, len, &opts) {
                Err(EifError::Io { .. }) | Err(EifError::Thread) | Ok(_) => {
                    panic!("prefix {n} (len {len:?}) not rejected as malformed")
                }
                Err(_) => {}
            }
        }
    }
}

#[test]
fn every_cpio_prefix_up_to_the_trailer_is_rejected() {
    let archive = write_files(
        vec![
            (EntryHeader::file("nsm.ko", 3, 0o444), FileSource::Bytes(b"NSM".to_vec())),
            (EntryHeader::dir("dev", 0o755), FileSource::None),
            (EntryHeader::symlink("lnk", "init"), FileSource::None),
            (EntryHeader::file("init", 4, 0o555), FileSource::Bytes(b"INIT".to_vec())),
        ],
        Vec::new(),
        CpioOptions::with_mtime(1),
    )
    .expect("writes");
    let full = read_entries(&archive[..]).expect("reads");
    // The archive ends with the trailer entry (name NUL-terminated, padded
    // to 4) and then zero padding, which a reader may legitimately stop in.
    let name = b"TRAILER!!!\0";
    let at = archive.windows(name.len()).rposition(|w| w == name).expect("trailer");
    let trailer_end = (at + name.len()).next_multiple_of(4);
    for n in 0..archive.len() {
        let got = read_entries(&archive[..n]);
        if n < trailer_end {
            match got {
                Err(CpioError::Io { .. }) | Ok(_) => panic!("prefix {n} not rejected"),
                Err(_) => {}
            }
        } else {
            assert_eq!(got.expect("zero padding after the trailer"), full, "prefix {n}");
        }
    }
}
