//! The `digests` table: one row per CloudTrail digest file, every field as the file holds it
//! (members trailq does not know go to `extra`, so nothing is lost), plus where it was found,
//! the SHA-256 of its content and its signature.
//!
//! A digest's key names its trail and region:
//! `[<prefix>/]AWSLogs/[<org-id>/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/`
//! `<account>_CloudTrail-Digest_<region>_<trail>_<region>_<YYYYMMDDTHHmmssZ>[_backfill].json.gz`.
//! Times stay the text the file holds: the signature covers `digestEndTime` as written.

use std::sync::LazyLock;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::record::time::{day_of, parse_time};
use crate::source::key_parts;

/// One digest file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRow {
    /// The trail's name, from the file name.
    pub trail: String,
    /// The region whose log files it lists, from the key.
    pub region: String,
    /// The organization id of an organization trail.
    pub organization: Option<String>,
    /// Whether it is a backfill digest (`_backfill`): log files a delay kept out of the hourly one.
    pub backfill: bool,
    /// Where trailq read it (a file path or `s3://bucket/key`).
    pub sourcefile: String,
    /// Hex SHA-256 of its decompressed content: what the next digest's
    /// `previousDigestHashValue` must equal, and part of the string its signature covers.
    pub sha256: String,
    /// Its signature (hex), from the object's `x-amz-meta-signature`; `None` where the source
    /// had none.
    pub signature: Option<String>,
    /// `awsAccountId`.
    pub awsaccountid: String,
    /// `digestStartTime`, as written.
    pub digeststarttime: String,
    /// `digestEndTime`, as written.
    pub digestendtime: String,
    /// `digestS3Bucket`: where CloudTrail wrote it.
    pub digests3bucket: String,
    /// `digestS3Object`.
    pub digests3object: String,
    /// `digestPublicKeyFingerprint`: which of the region's public keys signed it.
    pub digestpublickeyfingerprint: Option<String>,
    /// `digestSignatureAlgorithm` (`SHA256withRSA`).
    pub digestsignaturealgorithm: Option<String>,
    /// `newestEventTime`.
    pub newesteventtime: Option<String>,
    /// `oldestEventTime`.
    pub oldesteventtime: Option<String>,
    /// `previousDigestS3Bucket` (`None` for the first digest of a chain).
    pub previousdigests3bucket: Option<String>,
    /// `previousDigestS3Object`.
    pub previousdigests3object: Option<String>,
    /// `previousDigestHashValue`.
    pub previousdigesthashvalue: Option<String>,
    /// `previousDigestHashAlgorithm`.
    pub previousdigesthashalgorithm: Option<String>,
    /// `previousDigestSignature`.
    pub previousdigestsignature: Option<String>,
    /// `logFiles`: the log files delivered in the digest's hour.
    pub logfiles: Vec<ListedLogFile>,
    /// Top-level members not listed above, as a JSON object.
    pub extra: Option<String>,
}

/// One entry of a digest's `logFiles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedLogFile {
    /// `s3Bucket`.
    pub s3bucket: String,
    /// `s3Object`.
    pub s3object: String,
    /// `hashValue`: hex SHA-256 of the decompressed log file.
    pub hashvalue: String,
    /// `hashAlgorithm` (`SHA-256`).
    pub hashalgorithm: Option<String>,
    /// `newestEventTime`.
    pub newesteventtime: Option<String>,
    /// `oldestEventTime`.
    pub oldesteventtime: Option<String>,
    /// Members not listed above, as a JSON object.
    pub extra: Option<String>,
}

/// The schema of `digests` (without its `event_date` partition column, the day of
/// `digestEndTime`).
pub fn digests_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| crate::record::rows::traced_schema::<DigestRow>(&[]));
    SCHEMA.clone()
}

/// The rows as a batch of `digests_schema()`.
pub fn digests_batch(rows: &[DigestRow]) -> Result<RecordBatch, serde_arrow::Error> {
    serde_arrow::to_record_batch(digests_schema().fields(), &rows)
}

/// The rows of a batch of `digests` (any column order; text plain or views).
pub fn digest_rows(batch: &RecordBatch) -> Result<Vec<DigestRow>, serde_arrow::Error> {
    serde_arrow::from_record_batch(batch)
}

impl DigestRow {
    /// The day of its `event_date` partition: that of `digestEndTime`.
    pub fn day(&self) -> i32 {
        day_of(parse_time(&self.digestendtime).expect("checked when parsed"))
    }
}

/// The trail, region and backfill flag a digest's file name gives.
fn name_parts(key: &str) -> Option<(String, String, bool)> {
    let parts = key_parts(key)?;
    let name = key.rsplit('/').next()?;
    let stem = name
        .strip_suffix(".json.gz")
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(name);
    let (stem, backfill) = match stem.strip_suffix("_backfill") {
        Some(stem) => (stem, true),
        None => (stem, false),
    };
    let region = parts.region?;
    let rest = stem.strip_prefix(&format!("{}_CloudTrail-Digest_{region}_", parts.account))?;
    let (rest, _end) = rest.rsplit_once('_')?;
    let trail = rest.strip_suffix(&format!("_{region}"))?;
    (!trail.is_empty()).then(|| (trail.to_string(), region.to_string(), backfill))
}

/// The row of the digest file `content` (decompressed) found at `key` (a path or
/// `s3://bucket/key` in the CloudTrail layout), whose SHA-256 is `sha256`.
pub fn parse_digest(
    key: &str,
    content: &[u8],
    sha256: String,
    signature: Option<String>,
) -> Result<DigestRow, String> {
    let (trail, region, backfill) = name_parts(key).ok_or_else(|| {
        "the file name is not a CloudTrail digest's \
         (<account>_CloudTrail-Digest_<region>_<trail>_<region>_<time>.json.gz)"
            .to_string()
    })?;
    let document: Value = serde_json::from_slice(content).map_err(|err| {
        format!(
            "not JSON at line {}, column {}: {err}",
            err.line(),
            err.column()
        )
    })?;
    let Value::Object(mut members) = document else {
        return Err("a digest is a JSON object; this file holds another value".into());
    };
    let mut take = |name: &str, required: bool| -> Result<Option<String>, String> {
        match members.remove(name) {
            Some(Value::String(text)) => Ok(Some(text)),
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(format!("not a CloudTrail digest: no `{name}`")),
            Some(other) => Err(format!("`{name}` is not text: {other}")),
        }
    };
    let required = |value: Option<String>| value.expect("required members are present");
    let awsaccountid = required(take("awsAccountId", true)?);
    let digeststarttime = required(take("digestStartTime", true)?);
    let digestendtime = required(take("digestEndTime", true)?);
    if parse_time(&digestendtime).is_none() {
        return Err(format!("`digestEndTime` is not a time: {digestendtime}"));
    }
    let digests3bucket = required(take("digestS3Bucket", true)?);
    let digests3object = required(take("digestS3Object", true)?);
    let digestpublickeyfingerprint = take("digestPublicKeyFingerprint", false)?;
    let digestsignaturealgorithm = take("digestSignatureAlgorithm", false)?;
    let newesteventtime = take("newestEventTime", false)?;
    let oldesteventtime = take("oldestEventTime", false)?;
    let previousdigests3bucket = take("previousDigestS3Bucket", false)?;
    let previousdigests3object = take("previousDigestS3Object", false)?;
    let previousdigesthashvalue = take("previousDigestHashValue", false)?;
    let previousdigesthashalgorithm = take("previousDigestHashAlgorithm", false)?;
    let previousdigestsignature = take("previousDigestSignature", false)?;
    let logfiles = match members.remove("logFiles") {
        Some(Value::Array(files)) => files
            .into_iter()
            .enumerate()
            .map(|(i, file)| listed_file(file).map_err(|err| format!("logFiles[{i}]: {err}")))
            .collect::<Result<Vec<_>, _>>()?,
        None => return Err("not a CloudTrail digest: no `logFiles`".into()),
        Some(other) => return Err(format!("`logFiles` is not an array: {other}")),
    };
    Ok(DigestRow {
        trail,
        region,
        organization: key_parts(key).and_then(|p| p.org.map(str::to_string)),
        backfill,
        sourcefile: key.to_string(),
        sha256,
        signature,
        awsaccountid,
        digeststarttime,
        digestendtime,
        digests3bucket,
        digests3object,
        digestpublickeyfingerprint,
        digestsignaturealgorithm,
        newesteventtime,
        oldesteventtime,
        previousdigests3bucket,
        previousdigests3object,
        previousdigesthashvalue,
        previousdigesthashalgorithm,
        previousdigestsignature,
        logfiles,
        extra: rest_of(members),
    })
}

fn listed_file(file: Value) -> Result<ListedLogFile, String> {
    let Value::Object(mut members) = file else {
        return Err(format!("not an object: {file}"));
    };
    let mut take = |name: &str| -> Result<Option<String>, String> {
        match members.remove(name) {
            Some(Value::String(text)) => Ok(Some(text)),
            None | Some(Value::Null) => Ok(None),
            Some(other) => Err(format!("`{name}` is not text: {other}")),
        }
    };
    let s3bucket = take("s3Bucket")?.ok_or("no `s3Bucket`")?;
    let s3object = take("s3Object")?.ok_or("no `s3Object`")?;
    let hashvalue = take("hashValue")?.ok_or("no `hashValue`")?;
    Ok(ListedLogFile {
        s3bucket,
        s3object,
        hashvalue,
        hashalgorithm: take("hashAlgorithm")?,
        newesteventtime: take("newestEventTime")?,
        oldesteventtime: take("oldestEventTime")?,
        extra: rest_of(members),
    })
}

/// What is left of an object, as JSON text (`None` when nothing is).
fn rest_of(members: Map<String, Value>) -> Option<String> {
    (!members.is_empty()).then(|| Value::Object(members).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "s3://bucket/p/AWSLogs/o-abc123/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/\
        111122223333_CloudTrail-Digest_us-east-1_org_trail-1_us-east-1_20240305T110000Z.json.gz";

    fn digest() -> Value {
        json!({
            "awsAccountId": "111122223333",
            "digestStartTime": "2024-03-05T10:00:00Z",
            "digestEndTime": "2024-03-05T11:00:00Z",
            "digestS3Bucket": "bucket",
            "digestS3Object": "p/AWSLogs/o-abc123/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/x.json.gz",
            "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": "2024-03-05T10:59:00Z",
            "oldestEventTime": "2024-03-05T10:01:00Z",
            "previousDigestS3Bucket": null,
            "previousDigestS3Object": null,
            "previousDigestHashValue": null,
            "previousDigestHashAlgorithm": null,
            "previousDigestSignature": null,
            "logFiles": [{"s3Bucket": "bucket", "s3Object": "a.json.gz", "hashValue": "ab",
                          "hashAlgorithm": "SHA-256", "newestEventTime": "2024-03-05T10:59:00Z",
                          "oldestEventTime": "2024-03-05T10:01:00Z", "futureMember": 1}],
            "aNewMember": {"x": true}
        })
    }

    #[test]
    fn a_digest_becomes_one_row_with_nothing_lost() {
        let content = serde_json::to_vec(&digest()).unwrap();
        let row = parse_digest(KEY, &content, "ff".into(), Some("5a".into())).unwrap();
        assert_eq!(
            (row.trail.as_str(), row.region.as_str(), row.backfill),
            ("org_trail-1", "us-east-1", false)
        );
        assert_eq!(row.organization.as_deref(), Some("o-abc123"));
        assert_eq!(row.digestendtime, "2024-03-05T11:00:00Z");
        assert_eq!(row.previousdigestsignature, None);
        assert_eq!(row.logfiles[0].hashvalue, "ab");
        assert_eq!(
            row.logfiles[0].extra.as_deref(),
            Some(r#"{"futureMember":1}"#)
        );
        assert_eq!(row.extra.as_deref(), Some(r#"{"aNewMember":{"x":true}}"#));
        assert_eq!(
            row.day(),
            crate::record::time::parse_day("2024-03-05").unwrap()
        );
        // Through Arrow and back.
        let batch = digests_batch(std::slice::from_ref(&row)).unwrap();
        assert_eq!(digest_rows(&batch).unwrap(), vec![row]);
    }

    #[test]
    fn backfill_digests_are_recognised() {
        let key = KEY.replace("110000Z.json.gz", "110000Z_backfill.json.gz");
        let content = serde_json::to_vec(&digest()).unwrap();
        let row = parse_digest(&key, &content, "ff".into(), None).unwrap();
        assert!(row.backfill);
        assert_eq!(row.trail, "org_trail-1");
    }

    #[test]
    fn what_is_not_a_digest_says_why() {
        let mut bad = digest();
        bad.as_object_mut().unwrap().remove("digestEndTime");
        let err =
            parse_digest(KEY, &serde_json::to_vec(&bad).unwrap(), "ff".into(), None).unwrap_err();
        assert!(err.contains("no `digestEndTime`"), "{err}");
        let err = parse_digest(KEY, b"{\"Records\":", "ff".into(), None).unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
        let err = parse_digest(
            "s3://b/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/05/odd.json.gz",
            b"{}",
            "ff".into(),
            None,
        )
        .unwrap_err();
        assert!(err.contains("file name"), "{err}");
    }
}
