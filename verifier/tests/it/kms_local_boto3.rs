//! boto3 (botocore's own SigV4 signer and KMS JSON protocol) against
//! `proofpack-kms-local`: the server is a real KMS peer for a real AWS client.

use std::process::Command;

use crate::common::kms_local::{KmsLocal, PRINCIPALS};

const SCRIPT: &str = r#"
import base64, json, os, sys, time
import boto3, botocore
from botocore.config import Config

ep = os.environ["KMS_ENDPOINT"]
creds = json.loads(os.environ["KMS_PRINCIPALS"])
def client(name, secret=None):
    akid, sec = creds[name]
    return boto3.client("kms", endpoint_url=ep, region_name="us-east-1",
        aws_access_key_id=akid, aws_secret_access_key=secret or sec,
        config=Config(retries={"max_attempts": 1}))
def code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("expected an error")

admin, app, other = client("admin"), client("app"), client("other")
policy = json.dumps({"Version": "2012-10-17", "Statement": [
  {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
   "Action": "kms:*", "Resource": "*"},
  {"Sid": "App", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
   "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
   "Condition": {"StringEquals": {"kms:EncryptionContext:env": "prod"}}}]})
md = admin.create_key(Policy=policy, Description="boto3 test")["KeyMetadata"]
kid, arn = md["KeyId"], md["Arn"]
assert arn == f"arn:aws:kms:us-east-1:111122223333:key/{kid}", arn
assert md["KeyState"] == "Enabled" and md["Enabled"] is True
assert kid in [k["KeyId"] for k in admin.list_keys()["Keys"]]
assert json.loads(admin.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]) == json.loads(policy)

ctx = {"env": "prod", "svc": "api"}
ct = app.encrypt(KeyId=arn, Plaintext=b"hunter2", EncryptionContext=ctx)
assert ct["KeyId"] == arn
blob = ct["CiphertextBlob"]
pt = app.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
assert pt["Plaintext"] == b"hunter2" and pt["KeyId"] == arn
# context is authenticated
assert code(lambda: app.decrypt(CiphertextBlob=blob, EncryptionContext={"env": "prod", "svc": "web"})) == "InvalidCiphertextException"
# policy condition: env must be prod
assert code(lambda: app.encrypt(KeyId=kid, Plaintext=b"x", EncryptionContext={"env": "dev"})) == "AccessDeniedException"
# a principal the policy does not name
assert code(lambda: other.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)) == "AccessDeniedException"
assert code(lambda: app.put_key_policy(KeyId=kid, PolicyName="default", Policy=policy)) == "AccessDeniedException"
# data keys
dk = app.generate_data_key(KeyId=kid, KeySpec="AES_256", EncryptionContext=ctx)
assert len(dk["Plaintext"]) == 32
assert app.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == dk["Plaintext"]
# lifecycle
admin.disable_key(KeyId=kid)
assert admin.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"
assert code(lambda: app.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)) == "DisabledException"
admin.enable_key(KeyId=kid)
assert app.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"hunter2"
assert code(lambda: admin.schedule_key_deletion(KeyId=kid, PendingWindowInDays=6)) == "ValidationException"
assert code(lambda: admin.schedule_key_deletion(KeyId=kid, PendingWindowInDays=31)) == "ValidationException"
r = admin.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
assert r["KeyState"] == "PendingDeletion"
assert code(lambda: app.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)) == "KMSInvalidStateException"
assert code(lambda: admin.enable_key(KeyId=kid)) == "KMSInvalidStateException"
admin.cancel_key_deletion(KeyId=kid)
assert admin.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"
assert code(lambda: admin.cancel_key_deletion(KeyId=kid)) == "KMSInvalidStateException"
admin.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
print("SCHEDULED", flush=True)
sys.stdin.readline()  # the test advances the server clock by 7 days
assert code(lambda: admin.describe_key(KeyId=kid)) == "NotFoundException"
assert code(lambda: app.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)) == "InvalidCiphertextException"
# authentication
assert code(lambda: client("app", secret="wrong").list_keys()) == "InvalidSignatureException"
bad = boto3.client("kms", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="AKIDNOBODY",
                   aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))
assert code(lambda: bad.list_keys()) == "UnrecognizedClientException"
wrong_region = boto3.client("kms", endpoint_url=ep, region_name="eu-west-1", aws_access_key_id=creds["admin"][0],
                   aws_secret_access_key=creds["admin"][1], config=Config(retries={"max_attempts": 1}))
assert code(lambda: wrong_region.list_keys()) == "InvalidSignatureException"
assert code(lambda: app.create_key()) == "AccessDeniedException"
print("ALL-OK")
"#;

#[test]
fn boto3_drives_the_local_kms() {
    use std::io::{BufRead, BufReader, Write};
    let kms = KmsLocal::start(None);
    let principals: serde_json::Value = PRINCIPALS
        .iter()
        .map(|(id, s, arn, _)| {
            (arn.rsplit('/').next().unwrap().to_string(), serde_json::json!([id, s]))
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .env("KMS_ENDPOINT", kms.endpoint())
        .env("KMS_PRINCIPALS", principals.to_string())
        .env_remove("AWS_PROFILE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with boto3 must be installed (scripts/install-test-deps)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "SCHEDULED",
        "python failed before the clock step; server log:\n{}",
        kms.log()
    );
    kms.advance_days(7);
    writeln!(child.stdin.take().unwrap()).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success() && rest.contains("ALL-OK"),
        "python: {rest}\nserver log:\n{}",
        kms.log()
    );
    // The log names principals and outcomes, never plaintext.
    let log = kms.log();
    assert!(log.contains("role/other Decrypt -> 400 AccessDeniedException ("), "{log}");
    assert!(!log.contains("hunter2"));
}
