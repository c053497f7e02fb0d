//! The KMS action names and their classes for the pinning question.
//!
//! An action pattern in a key policy is matched against this fixed list
//! (the operations of the KMS API model, with ReEncrypt split into its two
//! permissions), so `kms:*Crypt*` is known to cover `kms:ReEncryptFrom`.

use serde::Serialize;

/// What an action can do to the secrecy of data under the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Returns (or lets the caller obtain) plaintext of existing ciphertext.
    Disclosing,
    /// Changes who may disclose (policy, grants, replicas).
    Escalating,
    /// Yields only material created in the same call.
    Fresh,
    /// Availability and lifecycle.
    Lifecycle,
    /// Read-only.
    ReadOnly,
    /// Not scoped to a key: inert in a key policy.
    NotKeyScoped,
}

/// Every KMS action name with its class.
pub const KMS_ACTIONS: &[(&str, ActionClass)] = {
    use ActionClass::*;
    &[
        ("kms:Decrypt", Disclosing),
        ("kms:ReEncryptFrom", Disclosing),
        ("kms:DeriveSharedSecret", Disclosing),
        ("kms:PutKeyPolicy", Escalating),
        ("kms:CreateGrant", Escalating),
        ("kms:ReplicateKey", Escalating),
        ("kms:TagResource", Lifecycle),
        ("kms:UntagResource", Lifecycle),
        ("kms:CreateAlias", Lifecycle),
        ("kms:UpdateAlias", Lifecycle),
        ("kms:DeleteAlias", Lifecycle),
        ("kms:Encrypt", Fresh),
        ("kms:GenerateDataKey", Fresh),
        ("kms:GenerateDataKeyWithoutPlaintext", Fresh),
        ("kms:GenerateDataKeyPair", Fresh),
        ("kms:GenerateDataKeyPairWithoutPlaintext", Fresh),
        ("kms:ReEncryptTo", Fresh),
        ("kms:GenerateRandom", Fresh),
        ("kms:Sign", Fresh),
        ("kms:GenerateMac", Fresh),
        ("kms:ScheduleKeyDeletion", Lifecycle),
        ("kms:DisableKey", Lifecycle),
        ("kms:CancelKeyDeletion", Lifecycle),
        ("kms:EnableKey", Lifecycle),
        ("kms:ImportKeyMaterial", Lifecycle),
        ("kms:DeleteImportedKeyMaterial", Lifecycle),
        ("kms:EnableKeyRotation", Lifecycle),
        ("kms:DisableKeyRotation", Lifecycle),
        ("kms:RotateKeyOnDemand", Lifecycle),
        ("kms:UpdatePrimaryRegion", Lifecycle),
        ("kms:UpdateKeyDescription", Lifecycle),
        ("kms:RevokeGrant", Lifecycle),
        ("kms:RetireGrant", Lifecycle),
        ("kms:DescribeKey", ReadOnly),
        ("kms:GetKeyPolicy", ReadOnly),
        ("kms:GetKeyRotationStatus", ReadOnly),
        ("kms:GetPublicKey", ReadOnly),
        ("kms:GetParametersForImport", ReadOnly),
        ("kms:ListGrants", ReadOnly),
        ("kms:ListKeyPolicies", ReadOnly),
        ("kms:ListKeyRotations", ReadOnly),
        ("kms:ListResourceTags", ReadOnly),
        ("kms:ListRetirableGrants", ReadOnly),
        ("kms:Verify", ReadOnly),
        ("kms:VerifyMac", ReadOnly),
        ("kms:CreateKey", NotKeyScoped),
        ("kms:ListKeys", NotKeyScoped),
        ("kms:ListAliases", NotKeyScoped),
        ("kms:CreateCustomKeyStore", NotKeyScoped),
        ("kms:ConnectCustomKeyStore", NotKeyScoped),
        ("kms:DisconnectCustomKeyStore", NotKeyScoped),
        ("kms:DeleteCustomKeyStore", NotKeyScoped),
        ("kms:DescribeCustomKeyStores", NotKeyScoped),
        ("kms:UpdateCustomKeyStore", NotKeyScoped),
    ]
};

/// The requests that may carry a `Recipient` attestation document, and so
/// the only ones whose context can hold `kms:RecipientAttestation:*` keys.
pub const RECIPIENT_CAPABLE: &[&str] = &[
    "kms:Decrypt",
    "kms:DeriveSharedSecret",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateRandom",
];

/// Actions that return plaintext data keys: moved to the disclosing class
/// under `--strict-generate`.
pub const STRICT_GENERATE: &[&str] =
    &["kms:GenerateDataKey", "kms:GenerateDataKeyPair", "kms:GenerateDataKeyWithoutPlaintext"];

/// Grant operations that disclose or re-open: a grant for one of these is an
/// unattested path, since grant constraints cannot require attestation.
pub const DANGEROUS_GRANT_OPS: &[&str] =
    &["Decrypt", "ReEncryptFrom", "DeriveSharedSecret", "CreateGrant"];

/// True if `action` can carry a Recipient (case-insensitive).
pub fn is_recipient_capable(action: &str) -> bool {
    RECIPIENT_CAPABLE.iter().any(|a| a.eq_ignore_ascii_case(action))
}

/// The class of a known action (case-insensitive), `None` if unknown.
pub fn class_of(action: &str) -> Option<ActionClass> {
    KMS_ACTIONS.iter().find(|(a, _)| a.eq_ignore_ascii_case(action)).map(|(_, c)| *c)
}

/// The canonical spelling of a known action.
pub fn canonical(action: &str) -> Option<&'static str> {
    KMS_ACTIONS.iter().find(|(a, _)| a.eq_ignore_ascii_case(action)).map(|(a, _)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(class_of("KMS:decrypt"), Some(ActionClass::Disclosing));
        assert_eq!(class_of("kms:Nope"), None);
        assert!(is_recipient_capable("kms:generaterandom"));
        assert!(!is_recipient_capable("kms:ReEncryptFrom"));
        assert_eq!(canonical("kms:decrypt"), Some("kms:Decrypt"));
    }
}
