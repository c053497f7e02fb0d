//! The EIF around the two ramdisks, via [`crate::eif::EifBuilder`].

use crate::eif::metadata::{build_time_from_epoch, BuildMetadata, EifMetadata};
use crate::eif::write::{EifBuilder, Input};
use crate::eif::Arch;
use crate::pcr::Measurements;
use crate::spec::Spec;

use super::layout::MetadataInputs;
use super::BuildError;

/// `BuildTool` written into the metadata.
pub const BUILD_TOOL: &str = "proofpack";

/// The metadata section for a build. Only non-measured facts go here.
pub fn metadata(spec: &Spec, meta: &MetadataInputs<'_>) -> Result<EifMetadata, BuildError> {
    let epoch = i64::try_from(meta.source_date_epoch)
        .map_err(|_| BuildError::Assemble("SOURCE_DATE_EPOCH out of range".into()))?;
    let build_time = build_time_from_epoch(epoch).map_err(BuildError::Assemble)?;
    Ok(EifMetadata {
        image_name: spec.image.name.clone(),
        image_version: spec.image.version.clone(),
        build: BuildMetadata {
            build_time,
            build_tool: BUILD_TOOL.into(),
            build_tool_version: env!("CARGO_PKG_VERSION").into(),
            operating_system: meta.operating_system.clone(),
            kernel_version: meta.kernel_version.clone(),
        },
        docker_info: serde_json::Value::Null,
        custom: serde_json::json!({
            "proofpack_profile": meta.profile,
            "proofpack_spec_sha256": meta.spec_sha256,
            "proofpack_toolchain_mismatch_allowed": meta.toolchain_mismatch_allowed,
            "proofpack_not_bootable": meta.not_bootable,
        }),
    })
}

/// Writes the EIF (kernel, cmdline, metadata, ramdisk 0, ramdisk 1) and
/// returns its bytes and PCRs.
pub fn write_eif(
    spec: &Spec,
    kernel: &[u8],
    ramdisk0: &[u8],
    ramdisk1: &[u8],
    meta: &MetadataInputs<'_>,
) -> Result<(Vec<u8>, Measurements), BuildError> {
    let builder = EifBuilder {
        kernel: Input::Bytes(kernel.to_vec()),
        cmdline: spec.image.cmdline.as_bytes().to_vec(),
        ramdisks: vec![Input::Bytes(ramdisk0.to_vec()), Input::Bytes(ramdisk1.to_vec())],
        arch: if spec.image.arch == "aarch64" { Arch::Aarch64 } else { Arch::X86_64 },
        metadata: metadata(spec, meta)?,
        signer: None,
    };
    let (bytes, out) = builder.to_vec().map_err(|e| BuildError::Assemble(e.to_string()))?;
    Ok((bytes, out.pcrs.to_measurements()))
}
