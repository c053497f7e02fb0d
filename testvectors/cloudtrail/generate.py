#!/usr/bin/env python3
"""Writes the CloudTrail test vectors of this directory (see README.md).

Run from this directory: python3 generate.py. Deterministic (gzip mtime 0).
"""
import base64
import gzip
import hashlib
import json

ARN = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def ph(n):
    return "<AttestationDocument.PCR%d>" % n


# AWS KMS Developer Guide, "Monitoring requests for Nitro enclaves", "Decrypt (for an enclave)".
decrypt = {
    "eventVersion": "1.05",
    "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
    "eventTime": "2020-07-27T22:58:24Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "Decrypt",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": ARN},
    "responseElements": None,
    "additionalEventData": {"recipient": {
        "attestationDocumentModuleId": "i-123456789abcde123-enc123456789abcde12",
        "attestationDocumentEnclaveImageDigest": ph(0),
        "attestationDocumentEnclavePCR1": ph(1), "attestationDocumentEnclavePCR2": ph(2),
        "attestationDocumentEnclavePCR3": ph(3), "attestationDocumentEnclavePCR4": ph(4),
        "attestationDocumentEnclavePCR8": ph(8)}},
    "requestID": "b4a65126-30d5-4b28-98b9-9153da559963",
    "eventID": "e5a2f202-ba1a-467c-b4ba-f729d45ae521",
    "readOnly": True,
    "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": ARN}],
    "eventType": "AwsApiCall",
    "recipientAccountId": "111122223333",
}
json.dump({"Records": [decrypt]}, open("aws-docs-decrypt-nitro.json", "w"), indent=4)

vals = {n: hashlib.sha384(("proofpack-testvector-pcr%d" % n).encode()).digest() for n in (0, 1, 2, 3, 4, 8)}
filled = json.loads(json.dumps(decrypt))
r = filled["additionalEventData"]["recipient"]
r["attestationDocumentEnclaveImageDigest"] = base64.b64encode(vals[0]).decode()
for n in (1, 2, 3, 4, 8):
    r["attestationDocumentEnclavePCR%d" % n] = base64.b64encode(vals[n]).decode()
json.dump({"Records": [filled]}, open("decrypt-nitro-base64.json", "w"), indent=4)
json.dump({"0": vals[0].hex(), "1": vals[1].hex(), "2": vals[2].hex()}, open("decrypt-nitro-base64.pcrs.json", "w"), indent=2)

# The documented default key policy.
policy = json.dumps({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}, indent=2)
# "Logging AWS KMS API calls with AWS CloudTrail": PutKeyPolicy.
put = {
    "eventVersion": "1.08",
    "userIdentity": {"type": "AssumedRole", "principalId": "AROAIGDTESTANDEXAMPLE:Alice", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/Alice", "accountId": "111122223333", "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                     "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAIGDTESTANDEXAMPLE", "arn": "arn:aws:iam::111122223333:role/Admin", "accountId": "111122223333", "userName": "Admin"}, "webIdFederationData": {}, "attributes": {"creationDate": "2020-03-04T23:10:50Z", "mfaAuthenticated": "false"}}},
    "eventTime": "2020-03-04T23:18:32Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "PutKeyPolicy",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "requestParameters": {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "policyName": "default", "policy": policy, "bypassPolicyLockoutSafetyCheck": False},
    "responseElements": None,
    "requestID": "7e1f4b7e-1d9a-4c2c-8f5a-1e0b9a0e2f21",
    "eventID": "a9f3a3a2-6c2f-4f7e-9d3e-0c1b2a3d4e5f",
    "readOnly": False,
    "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": ARN}],
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "eventCategory": "Management",
    "recipientAccountId": "111122223333",
}
# Same page: CreateKey.
create = {
    "eventVersion": "1.08",
    "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
    "eventTime": "2020-03-04T23:10:12Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "CreateKey",
    "awsRegion": "us-west-2",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "requestParameters": {"description": "", "keyUsage": "ENCRYPT_DECRYPT", "keySpec": "SYMMETRIC_DEFAULT", "origin": "AWS_KMS", "bypassPolicyLockoutSafetyCheck": False, "multiRegion": False, "policy": policy},
    "responseElements": {"keyMetadata": {"aWSAccountId": "111122223333", "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "arn": ARN, "creationDate": "Mar 4, 2020, 11:10:12 PM", "enabled": True, "description": "", "keyUsage": "ENCRYPT_DECRYPT", "keyState": "Enabled", "origin": "AWS_KMS", "keyManager": "CUSTOMER", "customerMasterKeySpec": "SYMMETRIC_DEFAULT", "keySpec": "SYMMETRIC_DEFAULT", "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "multiRegion": False}},
    "requestID": "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
    "eventID": "6f5e4d3c-2b1a-0f9e-8d7c-6b5a4f3e2d1c",
    "readOnly": False,
    "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": ARN}],
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "eventCategory": "Management",
    "recipientAccountId": "111122223333",
}
json.dump({"Records": [create, put]}, open("aws-docs-createkey-putkeypolicy.json", "w"), indent=4)

# AWS CLI Command Reference, cloudtrail lookup-events: output.
look = {"Events": [
    {"EventId": filled["eventID"], "EventName": "Decrypt", "ReadOnly": "true", "AccessKeyId": "EXAMPLE_KEY_ID", "EventTime": "2020-07-27T22:58:24+00:00", "EventSource": "kms.amazonaws.com", "Username": "Alice", "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": ARN}], "CloudTrailEvent": json.dumps(filled)},
    {"EventId": put["eventID"], "EventName": "PutKeyPolicy", "ReadOnly": "false", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "EventTime": "2020-03-04T23:18:32+00:00", "EventSource": "kms.amazonaws.com", "Username": "Alice", "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": ARN}], "CloudTrailEvent": json.dumps(put)}]}
json.dump(look, open("lookup-events.json", "w"), indent=4)


def lake_row(e):
    row = []
    for k in ["eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestID", "eventID", "recipientAccountId", "userIdentity", "requestParameters", "responseElements", "additionalEventData", "resources"]:
        v = e.get(k)
        if k == "eventTime":
            v = v.replace("T", " ").replace("Z", ".000")
        elif isinstance(v, (dict, list)):
            v = json.dumps(v)
        row.append({k: v})
    return row


# AWS CLI Command Reference, cloudtrail get-query-results: output.
lake = {"QueryStatus": "FINISHED", "QueryStatistics": {"ResultsCount": 2, "TotalResultsCount": 2, "BytesScanned": 2048}, "QueryResultRows": [lake_row(filled), lake_row(put)]}
json.dump(lake, open("lake-query-results.json", "w"), indent=4)

# Malformed files.
raw = gzip.compress(json.dumps({"Records": [filled, put]}).encode(), mtime=0)
open("truncated.json.gz", "wb").write(raw[: len(raw) // 2])
body = json.dumps({"Records": [filled, put]}).encode()
open("truncated-plain.json", "wb").write(body[: len(body) - 200])
bad = json.loads(json.dumps({"Records": [filled, put]}))
del bad["Records"][1]["eventTime"]
json.dump(bad, open("record-without-time.json", "w"))
