//! The real Nitro Security Module, through `/dev/nsm`.
//!
//! **Real implementation**, behind the cargo feature `nitro`: it uses AWS's
//! `aws-nitro-enclaves-nsm-api` crate, whose driver issues the NSM ioctl
//! (unsafe code and `nix` live in that crate, not here; the workspace forbids
//! `unsafe` in our own code). It only works inside a Nitro Enclave. Without
//! the feature, [`NitroNsm::open`] returns an error saying how to enable it.
//!
//! The request limits below are shared with the development NSM so both
//! refuse the same oversized requests.

use super::{AttestationRequest, Nsm, NsmError};

/// Largest `user_data` the NSM accepts (the stricter of AWS's two size tables).
pub const MAX_USER_DATA: usize = 512;
/// Largest `nonce`.
pub const MAX_NONCE: usize = 512;
/// Largest `public_key`.
pub const MAX_PUBLIC_KEY: usize = 1024;

/// Checks an attestation request against the NSM's field limits.
pub fn check_limits(req: &AttestationRequest) -> Result<(), NsmError> {
    for (field, v, max) in [
        ("user_data", &req.user_data, MAX_USER_DATA),
        ("nonce", &req.nonce, MAX_NONCE),
        ("public_key", &req.public_key, MAX_PUBLIC_KEY),
    ] {
        if let Some(v) = v {
            if v.len() > max {
                return Err(NsmError::TooLarge { field, len: v.len(), max });
            }
        }
    }
    Ok(())
}

/// The hardware NSM. Holds the open device descriptor.
#[derive(Debug)]
pub struct NitroNsm {
    #[cfg(feature = "nitro")]
    fd: i32,
}

impl NitroNsm {
    /// Opens `/dev/nsm`.
    pub fn open() -> Result<Self, NsmError> {
        #[cfg(feature = "nitro")]
        {
            let fd = aws_nitro_enclaves_nsm_api::driver::nsm_init();
            if fd < 0 {
                return Err(NsmError::Device(
                    "cannot open /dev/nsm (not inside a Nitro Enclave?)".into(),
                ));
            }
            Ok(Self { fd })
        }
        #[cfg(not(feature = "nitro"))]
        Err(NsmError::Device(
            "the Nitro NSM driver is not compiled in: build proofpack-enclave with feature `nitro`"
                .into(),
        ))
    }
}

#[cfg(feature = "nitro")]
impl Drop for NitroNsm {
    fn drop(&mut self) {
        aws_nitro_enclaves_nsm_api::driver::nsm_exit(self.fd);
    }
}

impl Nsm for NitroNsm {
    fn attest(&self, req: &AttestationRequest) -> Result<Vec<u8>, NsmError> {
        check_limits(req)?;
        #[cfg(feature = "nitro")]
        {
            use aws_nitro_enclaves_nsm_api::api::{Request, Response};
            use serde_bytes::ByteBuf;
            let r = Request::Attestation {
                user_data: req.user_data.clone().map(ByteBuf::from),
                nonce: req.nonce.clone().map(ByteBuf::from),
                public_key: req.public_key.clone().map(ByteBuf::from),
            };
            match aws_nitro_enclaves_nsm_api::driver::nsm_process_request(self.fd, r) {
                Response::Attestation { document } => Ok(document),
                Response::Error(code) => Err(NsmError::Refused(format!("{code:?}"))),
                _ => Err(NsmError::Device("unexpected NSM response to Attestation".into())),
            }
        }
        #[cfg(not(feature = "nitro"))]
        Err(NsmError::Device("the Nitro NSM driver is not compiled in".into()))
    }

    fn kind(&self) -> &'static str {
        "nitro"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let ok = AttestationRequest {
            user_data: Some(vec![0; 512]),
            nonce: None,
            public_key: Some(vec![0; 1024]),
        };
        check_limits(&ok).unwrap();
        let big = AttestationRequest { nonce: Some(vec![0; 513]), ..AttestationRequest::default() };
        assert!(matches!(
            check_limits(&big),
            Err(NsmError::TooLarge { field: "nonce", len: 513, max: 512 })
        ));
    }

    #[cfg(not(feature = "nitro"))]
    #[test]
    fn without_the_feature_open_says_how_to_enable_it() {
        let e = NitroNsm::open().unwrap_err();
        assert!(e.to_string().contains("feature `nitro`"), "{e}");
    }
}
