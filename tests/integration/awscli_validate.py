"""Checks digests with the AWS CLI's own validator (awscli/customizations/cloudtrail/validation.py).

Reads JSON lines on stdin, {"digest": path, "metadata": path, "public_key": base64}, and prints
one line per digest: "valid" or "invalid: <why>". The digest's bucket and key are the ones it
names, as `aws cloudtrail validate-logs` passes them after finding it there.
"""
import gzip
import json
import sys

from awscli.customizations.cloudtrail.validation import DigestError, Sha256RSADigestValidator

validator = Sha256RSADigestValidator()
for line in sys.stdin:
    job = json.loads(line)
    with open(job["digest"], "rb") as f:
        inflated = gzip.decompress(f.read())
    data = json.loads(inflated)
    with open(job["metadata"]) as f:
        data["_signature"] = json.load(f)["signature"]
    try:
        validator.validate(
            data["digestS3Bucket"], data["digestS3Object"], job["public_key"], data, inflated
        )
        print("valid")
    except DigestError as err:
        print(f"invalid: {err}")
