#!/usr/bin/env python3
"""Writes our own key-policy vectors (x*.json) and expected.json.

Verdicts, finding ids and request tuples below were derived by hand from the
documented IAM/KMS semantics (see ../README.md), not from the analyser.
PCR values come from ../aws-spec/pcrs.json. Run from this directory.
"""
import json

P = json.load(open("../aws-spec/pcrs.json"))
E0, E1, E2 = (P["expected"][k] for k in "012")
Z = "0" * 96
ACCT = "111122223333"
ROLE = "arn:aws:iam::%s:role/enclave-parent" % ACCT
ADMIN = "arn:aws:iam::%s:role/key-admin" % ACCT
OPS = "arn:aws:iam::%s:role/ops" % ACCT
ATT = "arn:aws:iam::999988887777:role/attacker"
KEY = "arn:aws:kms:us-east-1:%s:key/1234abcd-12ab-34cd-56ef-1234567890ab" % ACCT
D3 = ["kms:Decrypt", "kms:ReEncryptFrom", "kms:DeriveSharedSecret"]


def pin(op="StringEqualsIgnoreCase", keys=("PCR0", "PCR1", "PCR2"), vals=(E0, E1, E2), prefix="kms:RecipientAttestation:"):
    return {op: {prefix + k: v for k, v in zip(keys, vals)}}


def allow(principal, action, cond=None, sid=None, **extra):
    s = {}
    if sid:
        s["Sid"] = sid
    s["Effect"] = "Allow"
    s["Principal"] = principal if principal == "*" or isinstance(principal, dict) else {"AWS": principal}
    s["Action"] = action
    s["Resource"] = "*"
    if cond:
        s["Condition"] = cond
    s.update(extra)
    return s


def enclave(cond=None):
    return allow(ROLE, ["kms:Decrypt", "kms:GenerateDataKey"], cond or pin(), sid="EnclaveUse")


def guard(i, v, key=None):
    return {"Sid": "GuardPCR%d" % i, "Effect": "Deny", "Principal": "*", "Action": D3, "Resource": "*",
            "Condition": {"StringNotEqualsIgnoreCase": {key or "kms:RecipientAttestation:PCR%d" % i: v}}}


def doc(*stmts, version="2012-10-17"):
    d = {}
    if version:
        d["Version"] = version
    d["Statement"] = list(stmts)
    return d


def t(principal, action, decision, rec=False, match=None, **kw):
    x = {"principal": principal, "action": action, "has_recipient": rec, "pcr_match": match, "decision": decision}
    x.update(kw)
    return x


V = []


def vec(name, policy, verdict, tuples, findings=(), raw=None, **extra):
    text = raw if raw is not None else json.dumps(policy, indent=2) + "\n"
    with open(name, "w") as f:
        f.write(text)
    v = {"file": name, "verdict": verdict, "finding_ids": ["kms.policy." + f for f in findings], "tuples": tuples}
    v.update(extra)
    V.append(v)


# --- NOT_PINNED, other spellings -------------------------------------------
p = doc(); p["Statement"] = allow(ROLE, "kms:Decrypt")
vec("x01-statement-object-no-condition.json", p, "NOT_PINNED",
    [t(ROLE, "kms:Decrypt", "Allow"), t(ATT, "kms:Decrypt", "ImplicitDeny")], ["no-attestation-condition", "unattested-disclosure"])
vec("x02-wildcard-principal-caller-account.json",
    doc(allow("*", "kms:Decrypt", {"StringEquals": {"kms:CallerAccount": ACCT}})), "NOT_PINNED",
    [t(OPS, "kms:Decrypt", "Allow"), t(ATT, "kms:Decrypt", "ImplicitDeny")], ["wildcard-principal"])
vec("x03-account-id-kms-star.json",
    doc(allow(ACCT, "kms:*", sid="Enable IAM User Permissions"), enclave()), "NOT_PINNED",
    [t(OPS, "kms:Decrypt", "Allow"), t(OPS, "kms:Decrypt", "ImplicitDeny", iam_allows=False),
     t(ROLE, "kms:Decrypt", "Allow", True, "all", iam_allows=False)],
    ["account-root-delegation", "kms-wildcard-action"])
vec("x04-ifexists-lowercase-keys.json",
    doc(allow(ROLE, "kms:Decrypt", pin("StringEqualsIgnoreCaseIfExists", prefix="kms:recipientattestation:", keys=("pcr0", "pcr1", "pcr2")))),
    "NOT_PINNED", [t(ROLE, "kms:Decrypt", "Allow"), t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "none"),
                   t(ROLE, "kms:Decrypt", "Allow", True, "all")], ["if-exists-on-attestation-key"])
vec("x05-pcr1-pcr2-without-pcr0.json",
    doc(allow(ROLE, "kms:Decrypt", pin(keys=("PCR1", "PCR2"), vals=(E1, E2)))), "NOT_PINNED",
    [t(ROLE, "kms:Decrypt", "Allow", True, "all"), t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "pcr1_only"),
     t(ROLE, "kms:Decrypt", "ImplicitDeny")], ["partial-pcr-pin"])
vec("x06-stringlike-star.json",
    doc(allow(ROLE, "kms:Decrypt", {"StringLike": {"kms:RecipientAttestation:PCR0": "*", "kms:RecipientAttestation:PCR1": "*", "kms:RecipientAttestation:PCR2": "*"}})),
    "NOT_PINNED", [t(ROLE, "kms:Decrypt", "Allow", True, "none"), t(ROLE, "kms:Decrypt", "ImplicitDeny")], ["wildcard-pcr-value"])
vec("x07-notprincipal-allow.json",
    doc({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "kms:Decrypt", "Resource": "*"}),
    "NOT_PINNED", [t(OPS, "kms:Decrypt", "Allow")], ["not-principal-allow"])
vec("x08-notresource-allow.json",
    doc({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt",
         "NotResource": "arn:aws:kms:us-east-1:%s:key/other" % ACCT}),
    "NOT_PINNED", [t(ROLE, "kms:Decrypt", "Allow"), t(OPS, "kms:Decrypt", "ImplicitDeny")], ["not-resource-allow"])
vec("x09-creategrant-unrestricted.json",
    doc(enclave(), allow(ROLE, "kms:CreateGrant", sid="Grants")), "NOT_PINNED",
    [t(ROLE, "kms:CreateGrant", "Allow", context={"kms:GrantOperations": ["Decrypt"]}),
     t(ROLE, "kms:Decrypt", "ImplicitDeny")], ["create-grant", "grant-escalation"])
vec("x10-creategrant-foranyvalue.json",
    doc(enclave(), allow(OPS, "kms:CreateGrant", {"ForAnyValue:StringEquals": {"kms:GrantOperations": ["Encrypt", "GenerateDataKey"]}})),
    "NOT_PINNED",
    [t(OPS, "kms:CreateGrant", "Allow", context={"kms:GrantOperations": ["Encrypt", "Decrypt"]}),
     t(OPS, "kms:CreateGrant", "ImplicitDeny", context={"kms:GrantOperations": ["Decrypt"]})], ["create-grant"])
vec("x11-reencrypt-star.json", doc(enclave(), allow(ROLE, ["kms:Encrypt", "kms:ReEncrypt*"])), "NOT_PINNED",
    [t(ROLE, "kms:ReEncryptFrom", "Allow"), t(ROLE, "kms:ReEncryptTo", "Allow"), t(ROLE, "kms:Decrypt", "ImplicitDeny")],
    ["reencrypt-from"])
vec("x12-debug-zeros-imagesha384.json",
    doc(allow(ROLE, "kms:Decrypt", pin(keys=("ImageSha384", "PCR1", "PCR2"), vals=(Z, Z, Z)))), "NOT_PINNED",
    [t(ROLE, "kms:Decrypt", "Allow", True, "zeros"), t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "all")],
    ["debug-mode-zero-pcr"])
vec("x13-typo-key-ifexists.json",
    doc(allow(ROLE, "kms:Decrypt", {"StringEqualsIgnoreCaseIfExists": {"kms:RecipientAttestation:PCRO": E0}})), "NOT_PINNED",
    [t(ROLE, "kms:Decrypt", "Allow"), t(ROLE, "kms:Decrypt", "Allow", True, "none")], ["unknown-attestation-key"])
vec("x14-2008-negated-variable.json",
    doc(allow("*", "kms:Decrypt", {"StringNotEquals": {"aws:PrincipalAccount": "${aws:ResourceAccount}"}}), version="2008-10-17"),
    "NOT_PINNED", [t(ATT, "kms:Decrypt", "Allow"), t(OPS, "kms:Decrypt", "Allow")], ["literal-variable"])
vec("x15-abac-resource-tag.json",
    doc(allow(ROLE, "kms:Decrypt", {"StringEquals": {"aws:ResourceTag/enclave-only": "true"}})), "NOT_PINNED",
    [t(ROLE, "kms:Decrypt", "Allow", context={"aws:ResourceTag/enclave-only": "true"}), t(ROLE, "kms:Decrypt", "ImplicitDeny")],
    ["abac-condition"])
vec("x16-service-principal-decrypt.json",
    doc(enclave(), allow({"Service": "logs.us-east-1.amazonaws.com"}, ["kms:Decrypt", "kms:GenerateDataKey*"])), "NOT_PINNED",
    [t("logs.us-east-1.amazonaws.com", "kms:Decrypt", "Allow"), t(ROLE, "kms:Decrypt", "ImplicitDeny")], ["via-service"])
vec("x17-replicate-key-multi-region.json",
    doc(enclave(), allow(ADMIN, ["kms:DescribeKey", "kms:ReplicateKey"])), "NOT_PINNED",
    [t(ADMIN, "kms:ReplicateKey", "Allow")], ["replicate-key", "replica-escalation"], multi_region=True)
vec("x18-external-origin.json", doc(enclave(), guard(0, E0), guard(1, E1), guard(2, E2)), "NOT_PINNED",
    [t(ROLE, "kms:Decrypt", "Allow", True, "all")], ["key-material-outside-kms"], origin="EXTERNAL")
vec("x19-action-case-spelling.json", doc(allow(ROLE, ["KMS:DECRYPT"])), "NOT_PINNED",
    [t(ROLE, "kms:Decrypt", "Allow"), t(ROLE, "kms:Encrypt", "ImplicitDeny")], ["no-attestation-condition"])
vec("x20-notaction-role.json", doc(enclave(), {"Effect": "Allow", "Principal": {"AWS": ROLE}, "NotAction": "kms:Decrypt", "Resource": "*"}),
    "NOT_PINNED", [t(ROLE, "kms:ReEncryptFrom", "Allow"), t(ROLE, "kms:Decrypt", "ImplicitDeny"), t(ROLE, "kms:PutKeyPolicy", "Allow")],
    ["not-action-allow"])
vec("x21-session-wildcard-in-arnlike.json",
    doc(allow("*", "kms:Decrypt", {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::%s:role/ci-*" % ACCT}})), "NOT_PINNED",
    [t("arn:aws:iam::%s:role/ci-runner" % ACCT, "kms:Decrypt", "Allow"), t(OPS, "kms:Decrypt", "ImplicitDeny")],
    ["wildcard-principal"])

# --- PINNED ----------------------------------------------------------------
vec("x22-aws-star-list-pinned.json", doc(allow({"AWS": ["*"]}, "kms:Decrypt", pin())), "PINNED",
    [t(ATT, "kms:Decrypt", "Allow", True, "all"), t(ATT, "kms:Decrypt", "ImplicitDeny"),
     t(ATT, "kms:Decrypt", "ImplicitDeny", True, "pcr0_only")], warnings=["IMMUTABLE_POLICY"])
vec("x23-stringlike-exact-lowercase.json", doc(allow(ROLE, "kms:Decrypt", pin("StringLike"))), "PINNED",
    [t(ROLE, "kms:Decrypt", "Allow", True, "all"), t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "pcr1_only")])
vec("x24-kms-star-with-pin.json", doc(allow(ROLE, "kms:*", pin())), "PINNED",
    [t(ROLE, "kms:Decrypt", "Allow", True, "all"), t(ROLE, "kms:PutKeyPolicy", "ImplicitDeny"),
     t(ROLE, "kms:CreateGrant", "ImplicitDeny"), t(ROLE, "kms:ReEncryptFrom", "ImplicitDeny")], warnings=["IMMUTABLE_POLICY"])
vec("x25-guards-on-kms-star.json",
    doc(enclave(), allow(ADMIN, ["kms:PutKeyPolicy", "kms:DescribeKey"], sid="Admin"),
        *[dict(guard(i, v), Action="kms:*") for i, v in ((0, E0), (1, E1), (2, E2))]),
    "PINNED", [t(ROLE, "kms:Decrypt", "Allow", True, "all"), t(ADMIN, "kms:PutKeyPolicy", "ExplicitDeny"),
               t(ADMIN, "kms:Decrypt", "ExplicitDeny")], warnings=["IMMUTABLE_POLICY"])
vec("x26-role-session-principal.json",
    doc(allow("arn:aws:sts::%s:assumed-role/enclave-parent/i-0abc" % ACCT, "kms:Decrypt", pin())), "PINNED",
    [t("arn:aws:sts::%s:assumed-role/enclave-parent/i-0abc" % ACCT, "kms:Decrypt", "Allow", True, "all"),
     t("arn:aws:sts::%s:assumed-role/enclave-parent/other" % ACCT, "kms:Decrypt", "ImplicitDeny", True, "all"),
     t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "all")])

# --- LOCKOUT_RISK ----------------------------------------------------------
vec("x27-0x-prefixed-pcr0.json", doc(allow(ROLE, "kms:Decrypt", pin(vals=("0x" + E0, E1, E2)))), "LOCKOUT_RISK",
    [t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "all")], ["malformed-pcr-value", "lockout"])
vec("x28-sha256-length-pcr0.json", doc(allow(ROLE, "kms:Decrypt", pin(vals=(E0[:64], E1, E2)))), "LOCKOUT_RISK",
    [t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "all")], ["malformed-pcr-value"])
vec("x29-nitrotpm-keys.json", doc(allow(ROLE, "kms:Decrypt", pin(keys=("NitroTPMPCR0", "NitroTPMPCR1", "NitroTPMPCR2")))),
    "LOCKOUT_RISK", [t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "all")], ["nitro-tpm-key"])
vec("x30-typo-key-in-deny-guard.json", doc(enclave(), guard(0, E0, key="kms:RecipientAttestation:PCR0 ")), "LOCKOUT_RISK",
    [t(ROLE, "kms:Decrypt", "ExplicitDeny", True, "all"), t(ROLE, "kms:Decrypt", "ExplicitDeny")], ["unknown-attestation-key"])
vec("x31-no-version-self-reference.json",
    doc(allow(ROLE, "kms:Decrypt", {"StringEquals": {"kms:RecipientAttestation:PCR%d" % i: "${kms:RecipientAttestation:PCR%d}" % i for i in range(3)}}), version=None),
    "LOCKOUT_RISK", [t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "all")], ["literal-variable"])

# --- CANNOT_DECIDE ---------------------------------------------------------
vec("x32-unknown-operator-case.json", doc(allow(ROLE, "kms:Decrypt", pin("StringEqualsIgnorecase"))), "CANNOT_DECIDE",
    [t(ROLE, "kms:Decrypt", "ImplicitDeny", True, "all")], ["unknown-operator", "undecidable"])
vec("x33-foranyvalue-ifexists.json", doc(allow(ROLE, "kms:Decrypt", pin("ForAnyValue:StringEqualsIgnoreCaseIfExists"))),
    "CANNOT_DECIDE", [t(ROLE, "kms:Decrypt", "Allow", True, "all")], ["for-any-value-on-attestation-key"])
vec("x34-federated-principal.json", doc(enclave(), allow({"Federated": "cognito-identity.amazonaws.com"}, "kms:Decrypt")),
    "CANNOT_DECIDE", [t(ROLE, "kms:Decrypt", "Allow", True, "all")], ["undocumented-principal-form"])
dup = json.dumps(doc(enclave(), allow(OPS, "kms:Decrypt", sid="Ops")), indent=2).replace('"Effect": "Allow",\n      "Principal": {\n        "AWS": "%s"' % OPS, '"Effect": "Deny",\n      "Effect": "Allow",\n      "Principal": {\n        "AWS": "%s"' % OPS) + "\n"
assert dup.count('"Effect": "Deny"') == 1
vec("x35-duplicate-effect.json", None, "CANNOT_DECIDE",
    [t(OPS, "kms:Decrypt", "AMBIGUOUS", decision_first_wins="ExplicitDeny", decision_last_wins="Allow")], ["duplicate-member"], raw=dup)

exp = json.load(open("../aws-spec/expected.json"))
out = {"schema": exp["schema"], "defaults": exp["defaults"],
       "_comment": "our own vectors; same schema as ../aws-spec/expected.json plus finding_ids, multi_region, origin",
       "vectors": V}
with open("expected.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(len(V), "vectors")
