//! Sample audit reports shared by the report tests: one passing receipt and
//! one failing receipt exercising every part of the model (chain, PCR table
//! with a mismatch, image diff, policy findings, skipped and optional checks,
//! characters that need escaping in every output format).

use verifier::report::*;

const PCR_A: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
const PCR_B: &str = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf";
const ZERO: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

fn chain() -> Vec<CertSummary> {
    vec![
        CertSummary {
            subject: "CN=aws.nitro-enclaves, O=Amazon, C=US".into(),
            issuer: "CN=aws.nitro-enclaves, O=Amazon, C=US".into(),
            not_before: "2019-10-28T13:28:05Z".into(),
            not_after: "2049-10-28T14:28:05Z".into(),
            sha256: "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b".into(),
        },
        CertSummary {
            subject: "CN=i-0123.us-east-1.aws.nitro-enclaves".into(),
            issuer: "CN=aws.nitro-enclaves, O=Amazon, C=US".into(),
            not_before: "2025-01-15T09:00:00Z".into(),
            not_after: "2025-01-15T12:00:00Z".into(),
            sha256: "1111111111111111111111111111111111111111111111111111111111111111".into(),
        },
    ]
}

fn pcrs(expected_pcr2: &str) -> Vec<PcrRow> {
    vec![
        PcrRow { index: 0, attested: Some(PCR_A.into()), expected: Some(PCR_A.into()) },
        PcrRow { index: 1, attested: Some(PCR_B.into()), expected: Some(PCR_B.into()) },
        PcrRow { index: 2, attested: Some(PCR_A.into()), expected: Some(expected_pcr2.into()) },
        PcrRow { index: 8, attested: Some(ZERO.into()), expected: None },
    ]
}

/// A passing receipt.
pub fn good_subject() -> SubjectReport {
    let mut s = SubjectReport::new(SubjectKind::Receipt, "receipts/good.receipt.json");
    s.receipt_id = Some("85a1ad29a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c".into());
    s.source = Some(SourceInfo {
        repository: "git+https://github.com/example/proofpack".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        tree: Some("89abcdef0123456789abcdef0123456789abcdef".into()),
    });
    s.attested_at = Some("2025-01-15T10:00:02.500Z".into());
    s.push(
        GroupKind::Signature,
        Check::pass("receipt.signature", "Ed25519 signature over the DSSE PAE verifies"),
    );
    s.push(
        GroupKind::Attestation,
        Check::pass(
            "attestation.chain",
            "chain to the pinned root valid at 2025-01-15T10:00:02.500Z",
        ),
    );
    s.push(
        GroupKind::Binding,
        Check::pass("binding.user_data", "user_data binds the request and the KMS document"),
    );
    s.push(GroupKind::Source, Check::pass("source.commit", "commit 0123456 exists"));
    s.push(GroupKind::Source, Check::skipped("source.branch", "no --branch given"));
    s.push(
        GroupKind::Rebuild,
        Check::pass("rebuild.pcrs", "rebuilt PCR0, PCR1, PCR2 equal the attested ones"),
    );
    s.push(
        GroupKind::KmsPolicy,
        Check::pass(
            "kms.policy.pins",
            "arn:aws:kms:us-east-1:111122223333:key/k1 pins PCR0, PCR1, PCR2",
        ),
    );
    s.push(GroupKind::KmsKey, Check::skipped("kms.key.state", "no --kms-endpoint given"));
    s.push(GroupKind::Artifact, Check::pass("artifact.digest", "prod.ppa sha256 matches"));
    s.chain = chain();
    s.pcr_expected_from = Some("rebuild of 0123456".into());
    s.pcrs = pcrs(PCR_A);
    s
}

/// A failing receipt with a PCR mismatch, a diff and a policy bypass.
pub fn bad_subject() -> SubjectReport {
    let mut s = SubjectReport::new(SubjectKind::Receipt, "receipts/bad <&\"'> one.json");
    s.receipt_id = Some("ffa1ad29a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c".into());
    s.source = Some(SourceInfo {
        repository: "git+https://github.com/example/proofpack".into(),
        commit: "fedcba9876543210fedcba9876543210fedcba98".into(),
        tree: None,
    });
    s.attested_at = Some("2025-01-15T10:00:02.500Z".into());
    s.push(
        GroupKind::Signature,
        Check::pass("receipt.signature", "Ed25519 signature over the DSSE PAE verifies"),
    );
    s.push(GroupKind::Attestation, Check::pass("attestation.chain", "chain valid"));
    s.push(
        GroupKind::Attestation,
        Check::warn(
            "attestation.dev_ca",
            "the development CA signed this document (allowed by --allow-dev-ca)",
        ),
    );
    s.push(GroupKind::Source, Check::pass("source.commit", "commit fedcba9 exists"));
    s.push(GroupKind::Source, Check::fail("source.signature", "commit is not signed").optional());
    s.push(
        GroupKind::Rebuild,
        Check::mismatch(
            "rebuild.pcr.2",
            "PCR2 differs from the rebuild | see the diff",
            PCR_B,
            PCR_A,
        ),
    );
    s.push(
        GroupKind::KmsPolicy,
        Check::fail(
            "kms.policy.bypass",
            "statement \"Admin\" allows kms:Decrypt without the PCR condition\nline two",
        ),
    );
    s.push(
        GroupKind::Artifact,
        Check::mismatch(
            "artifact.digest",
            "artifact digest differs",
            "aa".repeat(32),
            "bb".repeat(32),
        ),
    );
    s.chain = chain();
    s.pcr_expected_from = Some("rebuild of fedcba9".into());
    s.pcrs = pcrs(PCR_B);
    s.image_diff = vec![
        DiffEntry {
            path: "ramdisk[1]/etc/proofpack/build-info.json".into(),
            change: DiffChange::Modified,
            detail: Some("sha256 1234… -> 5678…".into()),
        },
        DiffEntry {
            path: "ramdisk[1]/usr/bin/extra".into(),
            change: DiffChange::Added,
            detail: None,
        },
    ];
    s.policy_findings = vec![
        PolicyFinding {
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/k1".into(),
            id: "kms.policy.bypass".into(),
            severity: Severity::Error,
            message: "kms:Decrypt allowed to arn:aws:iam::111122223333:root without kms:RecipientAttestation:PCR0 <script>".into(),
            statement: Some("Admin".into()),
        },
        PolicyFinding {
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/k1".into(),
            id: "kms.policy.ifexists".into(),
            severity: Severity::Warning,
            message: "StringEqualsIfExists lets a request without attestation through".into(),
            statement: None,
        },
    ];
    s
}

/// The settings of the sample run.
pub fn settings(command: &str) -> Settings {
    Settings {
        command: command.into(),
        repository: Some("/src/proofpack".into()),
        branch: None,
        trust_root: Some(TrustRoot {
            source: "aws-nitro-enclaves-root-g1".into(),
            sha256: "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b".into(),
        }),
        allow_dev_ca: false,
        kms_policies: vec![InputFile {
            label: "arn:aws:kms:us-east-1:111122223333:key/k1".into(),
            path: "policy.json".into(),
            sha256: Some("22".repeat(32)),
        }],
        artifact: Some(InputFile {
            label: "artifact".into(),
            path: "prod.ppa".into(),
            sha256: Some("aa".repeat(32)),
        }),
        expect: None,
        blobs: Some("blobs".into()),
        kms_endpoint: None,
        cloudtrail: None,
    }
}

/// A report with the given subjects at a fixed time.
pub fn report(subjects: Vec<SubjectReport>) -> AuditReport {
    AuditReport {
        tool: ToolInfo { name: "proofpack".into(), version: "0.1.0".into() },
        verified_at: "2026-01-02T03:04:05Z".into(),
        settings: settings("audit"),
        subjects,
    }
}

/// The named sample reports: (name, report).
pub fn samples() -> Vec<(&'static str, AuditReport)> {
    vec![
        ("pass", report(vec![good_subject()])),
        ("fail", report(vec![good_subject(), bad_subject()])),
        ("empty", report(vec![])),
    ]
}
