#!/usr/bin/env python3
"""Validate a local copy of a trail's bucket with aws-cli's own CloudTrail
log file validation (awscli/customizations/cloudtrail/validation.py, the
code behind `aws cloudtrail validate-logs`): its DigestTraverser walks the
digest chain, its Sha256RSADigestValidator checks each digest's signature,
and CloudTrailValidateLogs._download_log checks each log file's SHA-256.

Only the network is replaced: S3 reads files under ROOT (an object's
x-amz-meta-signature is the sidecar OBJECT.sig), CloudTrail's
list-public-keys returns the one key given (its DER, base64 as the API's
Value is). Exit 0 when every digest and log file is valid.

usage: awscli_validate.py ROOT BUCKET ACCOUNT REGION TRAIL KEY.der FINGERPRINT START END
"""
import base64
import io
import os
import sys

from botocore.exceptions import ClientError
from awscli.customizations.cloudtrail.validation import (
    CloudTrailValidateLogs, normalize_date, parse_date)

root, bucket, account, region, trail, key_file, fingerprint, start, end = sys.argv[1:10]


class Objects:
    def keys(self):
        out = []
        for d, _, files in os.walk(root):
            for f in files:
                out.append(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/"))
        return sorted(out)

    def get_object(self, Bucket, Key):
        p = os.path.join(root, Key)
        if Bucket != bucket or not os.path.isfile(p):
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "not found"}}, "GetObject")
        meta = {}
        if os.path.isfile(p + ".sig"):
            with open(p + ".sig") as f:
                meta = {"signature": f.read().strip(), "signature-algorithm": "SHA256withRSA"}
        with open(p, "rb") as f:
            return {"Body": io.BytesIO(f.read()), "Metadata": meta}

    def get_paginator(self, name):
        assert name == "list_objects", name
        return self

    def paginate(self, Bucket, Marker, Prefix):
        keys = [k for k in self.keys() if k.startswith(Prefix) and k > Marker] if Bucket == bucket else []
        return Pages(keys)


class Pages:
    def __init__(self, keys):
        self._keys = keys

    def search(self, expression):
        assert expression == "Contents[*].Key", expression
        return iter(self._keys)


class S3Provider:
    def get_client(self, bucket_name):
        return Objects()


class CloudTrail:
    def list_public_keys(self, StartTime, EndTime):
        with open(key_file, "rb") as f:
            der = f.read()
        return {"PublicKeyList": [{"Fingerprint": fingerprint, "Value": base64.b64encode(der),
                                   "ValidityStartTime": StartTime, "ValidityEndTime": EndTime}]}


cmd = CloudTrailValidateLogs(None)
cmd.trail_arn = f"arn:aws:cloudtrail:{region}:{account}:trail/{trail}"
cmd.is_verbose = True
cmd.s3_bucket = bucket
cmd.s3_prefix = None
cmd.account_id = account
cmd.start_time = normalize_date(parse_date(start))
cmd.end_time = normalize_date(parse_date(end))
cmd.s3_client_provider = S3Provider()
cmd.cloudtrail_client = CloudTrail()
cmd.organization_client = None
cmd._source_region = region
cmd._call()
invalid = cmd._invalid_digests + cmd._invalid_backfill_digests + cmd._invalid_logs
print(f"RESULT valid_digests={cmd._valid_digests} invalid_digests={cmd._invalid_digests} "
      f"valid_logs={cmd._valid_logs} invalid_logs={cmd._invalid_logs}")
sys.exit(1 if invalid or not cmd._valid_digests else 0)
