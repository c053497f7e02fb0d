//! The one byte cursor every binary parser in the workspace decodes with.
//!
//! Two shapes of input exist:
//!
//! * **In memory** (transport frames, artifacts, sealed inputs, CMS, CBOR,
//!   fixed-size headers already read into a buffer): [`Reader`], a cursor
//!   over `&[u8]` whose every method returns `Result<_, DecodeError>`. It
//!   cannot read past the end, cannot overflow its position and cannot be
//!   made to allocate from a length field: lengths are checked against the
//!   bytes that remain before anything is sliced.
//! * **Streaming** (EIF and cpio read from files, never loaded whole):
//!   [`CountingReader`], the offset bookkeeping around [`std::io::Read`].
//!   Fixed-size pieces it reads (the EIF header, section headers) are then
//!   decoded with a [`Reader`] over that buffer, so field decoding has one
//!   implementation.
//!
//! Errors carry the absolute byte offset of the defect ([`Reader::with_base`]
//! lets a nested buffer report offsets into the whole document), so each
//! format's own error type can keep its precise messages.
//!
//! Why hand-written: `bytes::Buf` panics on short input (`get_u32` on three
//! bytes) and its `try_get_*` methods are recent and offset-free; `nom` and
//! `winnow` are parser-combinator frameworks whose error types would have to
//! be mapped back to each format's messages, and would pull a dependency
//! into every parser for what is some 150 lines here. What the parsers need
//! is small: big-endian integers, bounded slices, an offset, and a typed
//! error — nothing a framework adds.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod counting;
mod cursor;

pub use counting::{CountingReader, Fill};
pub use cursor::{DecodeError, Reader};
