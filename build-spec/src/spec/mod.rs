//! The build spec: a TOML file that pins everything that goes into an
//! enclave image.
//!
//! One file (this project's own is `build-spec/enclave.toml`) names the image,
//! the kernel command line, the Rust toolchain (exact `rustc -vV` release and
//! commit hash), the init and application binaries (cargo package, binary,
//! target, profile, extra rustflags) — or, instead of the application
//! binary, an OCI image pinned by digest (`[app.oci]`, see [`App`]) — extra
//! rootfs files, the time policy and, per profile, where the kernel and
//! `nsm.ko` come from:
//!
//! * `production`: AWS's blobs from the nitro-cli repository at a pinned git
//!   commit, each file optionally also pinned by sha256 and/or git blob id;
//! * `demo`: a stand-in kernel generated deterministically and labelled as not
//!   bootable, no `nsm.ko`.
//!
//! Parsing is strict: every table rejects unknown keys (a misspelt pin must
//! never be silently ignored), and every pin is checked for presence and shape
//! here, before any work starts. See `docs/notes/build.md` for the format
//! reference and [`Spec::parse`] for the rules.

mod parse;

pub use parse::{
    App, AppSource, Binary, BlobFile, BlobSource, Cargo, DebianKernel, EpochPolicy, Image,
    KernelSource, PinnedFile, PinnedModule, Profile, Rootfs, RootfsFile, Spec, SpecError,
    TimePolicy, Toolchain, MAX_SPEC_LEN, SPEC_FORMAT_VERSION,
};
