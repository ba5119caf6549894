//! The verdict on a lake's evidence: every digest checked (location, signature, chain), every
//! log file it lists checked against the hash the ledger recorded when the file was ingested,
//! every log file no digest lists found, and every hour a digest should exist but does not.
//!
//! It needs no log file again: the ledger holds each file's SHA-256 from the pass that decoded
//! it, and the `digests` table holds every digest. So it runs from the lake alone, offline.
//!
//! Files and digests are matched by their key from `AWSLogs/` on, so a local mirror (whatever
//! folder it sits in) verifies against digests that name S3 keys.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::digest::DigestRow;
use super::keys::PublicKeys;
use super::signing::{self, BadSignature};
use crate::lake::{SourceState, SourceStatus};
use crate::record::time::{format_time, parse_time};
use crate::source::key_parts;

const HOUR_MS: i64 = 3_600_000;

/// A link between two digests spanning more than this is a gap: CloudTrail writes a digest every
/// hour, even one listing no files.
const LONGEST_LINK_MS: i64 = 2 * HOUR_MS;

/// What became of one digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestStatus {
    /// Where CloudTrail wrote it, signed by the key it names, chained to what came before.
    Verified,
    /// No signature was found with it (a mirror without its sidecar; see `trailq
    /// fetch-signatures`).
    Unsigned,
    /// Its key is unknown: give `--public-keys`, or ingest from S3 with CloudTrail access.
    UnknownKey,
    /// Not where it says CloudTrail wrote it (`digestS3Bucket`/`digestS3Object`).
    Moved,
    /// Its signature does not verify: altered, or forged with another key.
    BadSignature,
    /// The next digest recorded another hash or signature for it: altered or replaced after.
    Replaced,
}

impl DigestStatus {
    /// Its name in tables and output.
    pub fn name(self) -> &'static str {
        match self {
            DigestStatus::Verified => "verified",
            DigestStatus::Unsigned => "unsigned",
            DigestStatus::UnknownKey => "unknown-key",
            DigestStatus::Moved => "moved",
            DigestStatus::BadSignature => "bad-signature",
            DigestStatus::Replaced => "replaced",
        }
    }
}

/// What became of one log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileStatus {
    /// Listed in a verified digest and present with the listed hash.
    Verified,
    /// Present with the listed hash, but the digest listing it is not verified.
    Unverified,
    /// Present in the trail's folders, and no digest covers its hour yet.
    Pending,
    /// Present in the trail's folders and in no digest, while a digest of its hour is missing
    /// or invalid: its listing may have been removed.
    UnlistedNoDigest,
    /// Present in the trail's folders and in no digest, though the digests of its hour exist:
    /// CloudTrail did not deliver it.
    Injected,
    /// Listed, and not in the lake's ledger.
    Missing,
    /// Listed, and present with another hash (or unreadable).
    Altered,
}

impl FileStatus {
    /// Its name in tables and output.
    pub fn name(self) -> &'static str {
        match self {
            FileStatus::Verified => "verified",
            FileStatus::Unverified => "unverified",
            FileStatus::Pending => "pending",
            FileStatus::UnlistedNoDigest => "unlisted-no-digest",
            FileStatus::Injected => "injected",
            FileStatus::Missing => "missing",
            FileStatus::Altered => "altered",
        }
    }
}

/// One chain of digests: a trail's digests for one account and region (backfill digests chain
/// on their own).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId {
    /// The trail's name.
    pub trail: String,
    /// The organization id of an organization trail.
    pub organization: Option<String>,
    /// The account whose logs it lists.
    pub account: String,
    /// The region.
    pub region: String,
    /// Whether these are backfill digests.
    pub backfill: bool,
}

/// One digest's verdict.
#[derive(Debug, Clone)]
pub struct DigestVerdict {
    /// Its chain.
    pub chain: ChainId,
    /// Where it was read.
    pub sourcefile: String,
    /// `digestStartTime` and `digestEndTime` (ms).
    pub start: i64,
    /// See `start`.
    pub end: i64,
    /// Worst of what was found.
    pub status: DigestStatus,
    /// Each problem: its kind and what it is, in words.
    pub problems: Vec<(DigestStatus, String)>,
    /// Log files it lists.
    pub listed: usize,
}

/// One log file's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFileRow {
    /// Where trailq read it (its `sourcefile` in `events`); `None` when missing.
    pub sourcefile: Option<String>,
    /// `s3://bucket/key` as the digest lists it, or the key from `AWSLogs/` when unlisted.
    pub s3key: String,
    /// The trail whose digest lists it (or whose digests cover its account and region).
    pub trail: String,
    /// `awsAccountId`.
    pub awsaccountid: String,
    /// The region.
    pub region: String,
    /// The hour it belongs to (ms, UTC): its digest's hour, or its delivery hour when unlisted.
    pub hour: i64,
    /// `FileStatus::name`.
    pub status: String,
    /// The digest listing it (where it was read).
    pub digest: Option<String>,
    /// The hash the digest lists.
    pub expected_sha256: Option<String>,
    /// The hash of its content when ingested.
    pub actual_sha256: Option<String>,
    /// What is wrong, in words.
    pub detail: Option<String>,
}

/// A stretch of hours with no digest where the chain says one should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The chain.
    pub chain: ChainId,
    /// First hour without a digest (ms).
    pub from: i64,
    /// End of the stretch (exclusive, ms).
    pub to: i64,
    /// Why, in words (with the missing digest's key where the chain names it).
    pub reason: String,
}

/// One row of `deliveries`: a trail's hour for one account and region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// The trail.
    pub trail: String,
    /// The organization id of an organization trail.
    pub organization: Option<String>,
    /// The account.
    pub awsaccountid: String,
    /// The region.
    pub region: String,
    /// The hour (ms, UTC).
    pub hour: i64,
    /// Digests found for it (hourly and backfill).
    pub digests: u32,
    /// The worst status of its digests (`None` when there is none).
    pub digest_status: Option<String>,
    /// Log files its digests list.
    pub files_expected: u32,
    /// Of those, present in the lake's ledger.
    pub files_present: u32,
    /// Present with the listed hash, under a verified digest.
    pub verified: u32,
    /// Present with the listed hash, under a digest that is not verified.
    pub unverified: u32,
    /// Listed and absent.
    pub missing: u32,
    /// Listed and present with another hash.
    pub altered: u32,
    /// Present and listed by no digest (pending, digest missing, or injected).
    pub unlisted: u32,
    /// Whether the hour is in a gap of the chain.
    pub gap: bool,
    /// `verified`, or the worst problem: `gap`, `invalid-digest`, `altered`, `missing`,
    /// `unlisted`, `unverified` or `pending`.
    pub status: String,
    /// Every problem of the hour, in words.
    pub problems: Vec<String>,
}

/// Everything found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Per digest.
    pub digests: Vec<DigestVerdict>,
    /// Per log file, listed or found.
    pub files: Vec<LogFileRow>,
    /// Hours without the digests the chains call for.
    pub gaps: Vec<Gap>,
    /// Per trail, account, region and hour.
    pub deliveries: Vec<DeliveryRow>,
    /// Log files in (account, region) folders no digest covers at all: validation is off there.
    pub uncovered: BTreeMap<(String, String), u64>,
}

/// A key from its `AWSLogs/` segment on (the part a mirror keeps), or the whole key.
pub fn trail_key(key: &str) -> &str {
    let key = key.strip_prefix("s3://").unwrap_or(key);
    match key.rfind("AWSLogs/") {
        Some(at) if at == 0 || key[..at].ends_with('/') => &key[at..],
        _ => key,
    }
}

/// The floor of `ms` to the hour.
fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// The hour a digest covers: its start, rounded to the nearest hour (CloudTrail's windows run
/// from about one hour's turn to the next, `14:01:31`–`15:01:31`).
fn digest_hour(start: i64) -> i64 {
    hour_of(start + HOUR_MS / 2)
}

/// The time in a CloudTrail file name (`..._<region>_<YYYYMMDDTHHmmZ>_...` or, for digests,
/// `..._<YYYYMMDDTHHmmssZ>.json.gz`), in ms.
fn name_time(key: &str) -> Option<i64> {
    let name = key.rsplit('/').next()?;
    name.split(['_', '.']).find_map(|part| {
        let digits = part.strip_suffix('Z')?;
        let (date, time) = digits.split_once('T')?;
        if date.len() != 8 || !(time.len() == 4 || time.len() == 6) {
            return None;
        }
        let seconds = if time.len() == 6 { &time[4..6] } else { "00" };
        parse_time(&format!(
            "{}-{}-{}T{}:{}:{seconds}Z",
            &date[..4],
            &date[4..6],
            &date[6..8],
            &time[..2],
            &time[2..4]
        ))
    })
}

/// Checks everything: `digests` (the `digests` table, any number of rows per file) against the
/// ledger `sources` (every object the lake read, with its hash) and the public `keys`.
pub fn verify(
    digests: Vec<DigestRow>,
    sources: &HashMap<String, SourceState>,
    keys: &PublicKeys,
) -> Verification {
    let digests = current_rows(digests, sources);
    let mut verification = Verification::default();
    let mut verdicts: Vec<DigestVerdict> = digests.iter().map(|d| check_alone(d, keys)).collect();
    let gaps = check_chains(&digests, &mut verdicts);
    let ledger = LedgerIndex::of(sources);
    let (files, listed_tails) = check_listed(&digests, &verdicts, &ledger);
    verification.files = files;
    let covered = Coverage::of(&digests, &verdicts, &gaps);
    for (key, state) in sources {
        let tail = trail_key(key);
        if listed_tails.contains(tail) {
            continue;
        }
        let Some(parts) = key_parts(tail) else {
            continue;
        };
        if !matches!(
            parts.folder,
            "CloudTrail" | "CloudTrail-Insight" | "CloudTrail-NetworkActivity"
        ) {
            continue;
        }
        let Some(region) = parts.region else { continue };
        let place = (
            parts.org.map(str::to_string),
            parts.account.to_string(),
            region.to_string(),
        );
        let Some(chains) = covered.chains.get(&place) else {
            *verification
                .uncovered
                .entry((place.1, place.2))
                .or_default() += 1;
            continue;
        };
        if parts.folder != "CloudTrail" && !covered.folders.contains(&(place.clone(), parts.folder))
        {
            // Digests of this account and region list no file of this kind: not covered.
            continue;
        }
        let delivered = name_time(tail)
            .or_else(|| parts.day.map(|day| i64::from(day) * 86_400_000))
            .unwrap_or(0);
        let (trail, status, detail) = covered.unlisted(chains, delivered);
        verification.files.push(LogFileRow {
            sourcefile: Some(key.clone()),
            s3key: tail.to_string(),
            trail,
            awsaccountid: place.1,
            region: place.2,
            hour: hour_of(delivered),
            status: status.name().to_string(),
            digest: None,
            expected_sha256: None,
            actual_sha256: state.sha256.clone(),
            detail: Some(detail),
        });
    }
    verification
        .files
        .sort_by(|a, b| (a.hour, &a.s3key).cmp(&(b.hour, &b.s3key)));
    verification.deliveries = deliveries(&digests, &verdicts, &gaps, &verification.files);
    verification.digests = verdicts;
    verification.gaps = gaps;
    verification
}

/// One row per digest file: the one whose hash is the ledger's current hash for it (a digest
/// read again after a change has older rows too), preferring one with a signature.
fn current_rows(rows: Vec<DigestRow>, sources: &HashMap<String, SourceState>) -> Vec<DigestRow> {
    let mut best: BTreeMap<String, DigestRow> = BTreeMap::new();
    for row in rows {
        let current = |r: &DigestRow| {
            let hash = sources.get(&r.sourcefile).and_then(|s| s.sha256.as_deref());
            (hash == Some(r.sha256.as_str()), r.signature.is_some())
        };
        match best.get(&row.sourcefile) {
            Some(kept) if current(kept) >= current(&row) => {}
            _ => {
                best.insert(row.sourcefile.clone(), row);
            }
        }
    }
    let mut rows: Vec<DigestRow> = best.into_values().collect();
    rows.sort_by_cached_key(|r| (parse_time(&r.digestendtime), r.sourcefile.clone()));
    rows
}

fn chain_of(row: &DigestRow) -> ChainId {
    ChainId {
        trail: row.trail.clone(),
        organization: row.organization.clone(),
        account: row.awsaccountid.clone(),
        region: row.region.clone(),
        backfill: row.backfill,
    }
}

/// Location and signature.
fn check_alone(row: &DigestRow, keys: &PublicKeys) -> DigestVerdict {
    let mut verdict = DigestVerdict {
        chain: chain_of(row),
        sourcefile: row.sourcefile.clone(),
        start: parse_time(&row.digeststarttime).unwrap_or(0),
        end: parse_time(&row.digestendtime).unwrap_or(0),
        status: DigestStatus::Verified,
        problems: Vec::new(),
        listed: row.logfiles.len(),
    };
    let claimed = format!("{}/{}", row.digests3bucket, row.digests3object);
    let found_here = match row.sourcefile.strip_prefix("s3://") {
        Some(found) => found == claimed,
        None => trail_key(&row.sourcefile) == trail_key(&row.digests3object),
    };
    if !found_here {
        verdict.flag(
            DigestStatus::Moved,
            format!(
                "found at {}, but CloudTrail wrote it to s3://{claimed}",
                row.sourcefile
            ),
        );
    }
    let fingerprint = row.digestpublickeyfingerprint.as_deref().unwrap_or("");
    match (&row.signature, keys.get(fingerprint)) {
        (None, _) => verdict.flag(
            DigestStatus::Unsigned,
            "no signature came with it (S3's x-amz-meta-signature, or a mirror's \
             .metadata.json sidecar: `trailq fetch-signatures`)"
                .into(),
        ),
        (Some(_), None) => verdict.flag(
            DigestStatus::UnknownKey,
            format!(
                "signed by public key {fingerprint}, which the lake does not know: give \
                 --public-keys (the output of `aws cloudtrail list-public-keys`), or ingest \
                 from S3 with access to CloudTrail"
            ),
        ),
        (Some(signature), Some(key)) => match signing::verify(row, signature, &key.der) {
            Ok(()) => {}
            Err(BadSignature::NotHex) => verdict.flag(
                DigestStatus::BadSignature,
                "its signature is not hex".into(),
            ),
            Err(BadSignature::Mismatch) => verdict.flag(
                DigestStatus::BadSignature,
                format!(
                    "its signature does not verify with public key {fingerprint}: the digest \
                     was altered, or signed with another key"
                ),
            ),
        },
    }
    verdict
}

impl DigestVerdict {
    fn flag(&mut self, status: DigestStatus, problem: String) {
        self.status = self.status.max(status);
        self.problems.push((status, problem));
    }
}

/// Links each digest to the one before (by the key it names), checks the recorded hash and
/// signature, and returns the stretches where digests are missing.
fn check_chains(digests: &[DigestRow], verdicts: &mut [DigestVerdict]) -> Vec<Gap> {
    let by_found: HashMap<&str, usize> = digests
        .iter()
        .enumerate()
        .map(|(i, d)| (trail_key(&d.sourcefile), i))
        .collect();
    let mut chains: BTreeMap<ChainId, Vec<usize>> = BTreeMap::new();
    for (i, verdict) in verdicts.iter().enumerate() {
        chains.entry(verdict.chain.clone()).or_default().push(i);
    }
    // A trail writes every region's digest every hour: one region's chain ending before the
    // trail's others in the same account is a stop. (Other accounts and trails are not compared:
    // an ingest may have selected them up to another day.)
    let mut newest: HashMap<(String, String), i64> = HashMap::new();
    for verdict in verdicts.iter() {
        let key = (verdict.chain.trail.clone(), verdict.chain.account.clone());
        let end = newest.entry(key).or_insert(verdict.end);
        *end = (*end).max(verdict.end);
    }
    let mut gaps = Vec::new();
    for (chain, members) in &chains {
        let newest = newest[&(chain.trail.clone(), chain.account.clone())];
        for (n, &i) in members.iter().enumerate() {
            let row = &digests[i];
            let earlier = n.checked_sub(1).map(|m| members[m]);
            let Some(previous_key) = &row.previousdigests3object else {
                if let Some(e) = earlier {
                    gaps.push(Gap {
                        chain: chain.clone(),
                        from: digest_hour(verdicts[e].start) + HOUR_MS,
                        to: digest_hour(verdicts[i].start),
                        reason: format!(
                            "the chain starts again at {}: no digest links it to {} (log file \
                             validation or logging was turned off, or the digests between were \
                             removed)",
                            row.sourcefile, digests[e].sourcefile
                        ),
                    });
                }
                continue;
            };
            match by_found.get(trail_key(previous_key)) {
                None => {
                    let end = name_time(previous_key).unwrap_or(verdicts[i].start);
                    let from = earlier.map_or(digest_hour(end - HOUR_MS), |e| {
                        digest_hour(verdicts[e].start) + HOUR_MS
                    });
                    gaps.push(Gap {
                        chain: chain.clone(),
                        from: from.min(digest_hour(end - HOUR_MS)),
                        to: digest_hour(verdicts[i].start),
                        reason: format!(
                            "digest s3://{}/{previous_key} is missing: {} names it as the one \
                             before",
                            row.previousdigests3bucket.as_deref().unwrap_or(""),
                            row.sourcefile
                        ),
                    });
                }
                Some(&p) => {
                    let previous = &digests[p];
                    if row.previousdigesthashvalue.as_deref() != Some(previous.sha256.as_str()) {
                        verdicts[p].flag(
                            DigestStatus::Replaced,
                            format!(
                                "its content is not what {} recorded (previousDigestHashValue): \
                                 it was altered or replaced",
                                row.sourcefile
                            ),
                        );
                    } else if previous.signature.is_some()
                        && row.previousdigestsignature != previous.signature
                    {
                        verdicts[p].flag(
                            DigestStatus::Replaced,
                            format!(
                                "its signature is not the one {} recorded \
                                 (previousDigestSignature)",
                                row.sourcefile
                            ),
                        );
                    }
                    if verdicts[i].start - verdicts[p].end > LONGEST_LINK_MS {
                        gaps.push(Gap {
                            chain: chain.clone(),
                            from: digest_hour(verdicts[p].start) + HOUR_MS,
                            to: digest_hour(verdicts[i].start),
                            reason: format!(
                                "no digest between {} and {}, though the chain links them \
                                 (the trail was not logging)",
                                format_time(verdicts[p].end),
                                format_time(verdicts[i].start)
                            ),
                        });
                    }
                }
            }
        }
        if let Some(&last) = members.last()
            && !chain.backfill
            && newest - verdicts[last].end > LONGEST_LINK_MS
        {
            gaps.push(Gap {
                chain: chain.clone(),
                from: digest_hour(verdicts[last].start) + HOUR_MS,
                to: digest_hour(newest - HOUR_MS) + HOUR_MS,
                reason: format!(
                    "no digest after {}, while the trail's other regions' digests run to {}: \
                     the trail stopped delivering here, or its latest digests were removed",
                    format_time(verdicts[last].end),
                    format_time(newest)
                ),
            });
        }
    }
    gaps.retain(|gap| gap.to > gap.from);
    gaps
}

/// The ledger by key from `AWSLogs/`.
struct LedgerIndex<'a> {
    by_tail: HashMap<&'a str, Vec<(&'a str, &'a SourceState)>>,
}

impl<'a> LedgerIndex<'a> {
    fn of(sources: &'a HashMap<String, SourceState>) -> Self {
        let mut by_tail: HashMap<&str, Vec<(&str, &SourceState)>> = HashMap::new();
        for (key, state) in sources {
            by_tail
                .entry(trail_key(key))
                .or_default()
                .push((key.as_str(), state));
        }
        Self { by_tail }
    }
}

/// Every listed file's verdict, and the keys (from `AWSLogs/`) listed.
fn check_listed<'d>(
    digests: &'d [DigestRow],
    verdicts: &[DigestVerdict],
    ledger: &LedgerIndex,
) -> (Vec<LogFileRow>, BTreeSet<&'d str>) {
    // A file listed twice (an hourly and a backfill digest) keeps its best verdict.
    let mut best: HashMap<&str, (FileStatus, LogFileRow)> = HashMap::new();
    for (row, verdict) in digests.iter().zip(verdicts) {
        for listed in &row.logfiles {
            let tail = trail_key(&listed.s3object);
            let found = ledger.by_tail.get(tail).map(Vec::as_slice).unwrap_or(&[]);
            let matching = found
                .iter()
                .find(|(_, s)| s.sha256.as_deref() == Some(listed.hashvalue.as_str()));
            let (status, sourcefile, actual, detail) = match (matching, found.first()) {
                (Some((key, state)), _) if verdict.status == DigestStatus::Verified => {
                    (FileStatus::Verified, Some(*key), state.sha256.clone(), None)
                }
                (Some((key, state)), _) => (
                    FileStatus::Unverified,
                    Some(*key),
                    state.sha256.clone(),
                    Some(format!(
                        "its hash matches, but its digest is {}",
                        verdict.status.name()
                    )),
                ),
                (None, Some((key, state))) => {
                    let detail = match (&state.sha256, state.status) {
                        (Some(_), _) => "its content is not what CloudTrail delivered".to_string(),
                        (None, SourceStatus::Failed) => format!(
                            "unreadable, so not what CloudTrail delivered: {}",
                            state.error.as_deref().unwrap_or("no reason recorded")
                        ),
                        (None, _) => "ingested before trailq recorded hashes: ingest it again \
                                      (`trailq ingest --force`) to check it"
                            .to_string(),
                    };
                    (
                        FileStatus::Altered,
                        Some(*key),
                        state.sha256.clone(),
                        Some(detail),
                    )
                }
                (None, None) => (
                    FileStatus::Missing,
                    None,
                    None,
                    Some("listed in its digest, and not in the lake's sources".to_string()),
                ),
            };
            let file = LogFileRow {
                sourcefile: sourcefile.map(str::to_string),
                s3key: format!("s3://{}/{}", listed.s3bucket, listed.s3object),
                trail: row.trail.clone(),
                awsaccountid: row.awsaccountid.clone(),
                region: row.region.clone(),
                hour: digest_hour(verdict.start),
                status: status.name().to_string(),
                digest: Some(row.sourcefile.clone()),
                expected_sha256: Some(listed.hashvalue.clone()),
                actual_sha256: actual,
                detail,
            };
            let rank = |s: FileStatus| match s {
                FileStatus::Verified => 0,
                FileStatus::Unverified => 1,
                _ => 2,
            };
            match best.get(tail) {
                Some((kept, _)) if rank(*kept) <= rank(status) => {}
                _ => {
                    best.insert(tail, (status, file));
                }
            }
        }
    }
    let tails = best.keys().copied().collect();
    let files = best.into_values().map(|(_, file)| file).collect();
    (files, tails)
}

type Place = (Option<String>, String, String);

/// Which chains cover each (organization, account, region), and which folders they list.
struct Coverage<'a> {
    chains: HashMap<Place, Vec<ChainCover<'a>>>,
    folders: BTreeSet<(Place, &'a str)>,
}

struct ChainCover<'a> {
    trail: &'a str,
    /// Hours (ms) of its digests that are not invalid (verified, or not checkable).
    hours: BTreeSet<i64>,
    /// Hours of its invalid digests (moved, forged, replaced).
    invalid: BTreeSet<i64>,
    /// Hours in its gaps.
    gaps: Vec<(i64, i64)>,
    /// End of its newest digest.
    newest: i64,
}

impl<'a> Coverage<'a> {
    fn of(digests: &'a [DigestRow], verdicts: &[DigestVerdict], gaps: &[Gap]) -> Self {
        let mut chains: HashMap<Place, BTreeMap<&'a str, ChainCover<'a>>> = HashMap::new();
        let mut folders = BTreeSet::new();
        for (row, verdict) in digests.iter().zip(verdicts) {
            let place = (
                row.organization.clone(),
                row.awsaccountid.clone(),
                row.region.clone(),
            );
            for listed in &row.logfiles {
                if let Some(parts) = key_parts(trail_key(&listed.s3object)) {
                    let folder = match parts.folder {
                        "CloudTrail-Insight" => "CloudTrail-Insight",
                        "CloudTrail-NetworkActivity" => "CloudTrail-NetworkActivity",
                        _ => "CloudTrail",
                    };
                    folders.insert((place.clone(), folder));
                }
            }
            let cover = chains
                .entry(place)
                .or_default()
                .entry(row.trail.as_str())
                .or_insert_with(|| ChainCover {
                    trail: row.trail.as_str(),
                    hours: BTreeSet::new(),
                    invalid: BTreeSet::new(),
                    gaps: Vec::new(),
                    newest: 0,
                });
            let hour = digest_hour(verdict.start);
            match verdict.status {
                DigestStatus::Verified | DigestStatus::Unsigned | DigestStatus::UnknownKey => {
                    cover.hours.insert(hour)
                }
                _ => cover.invalid.insert(hour),
            };
            cover.newest = cover.newest.max(verdict.end);
        }
        for gap in gaps {
            let place = (
                gap.chain.organization.clone(),
                gap.chain.account.clone(),
                gap.chain.region.clone(),
            );
            if let Some(cover) = chains
                .get_mut(&place)
                .and_then(|c| c.get_mut(gap.chain.trail.as_str()))
            {
                cover.gaps.push((gap.from, gap.to));
            }
        }
        Self {
            chains: chains
                .into_iter()
                .map(|(place, trails)| (place, trails.into_values().collect()))
                .collect(),
            folders,
        }
    }

    /// The trail, status and reason of a file no digest lists, delivered at `delivered` (ms).
    fn unlisted(&self, chains: &[ChainCover], delivered: i64) -> (String, FileStatus, String) {
        let hour = hour_of(delivered);
        // A file written near an hour's turn may be listed in either hour's digest.
        let hours = [hour - HOUR_MS, hour, hour + HOUR_MS];
        let lost = |cover: &ChainCover| {
            hours.iter().any(|h| {
                cover.invalid.contains(h)
                    || cover.gaps.iter().any(|&(from, to)| *h >= from && *h < to)
            })
        };
        if let Some(cover) = chains.iter().find(|c| lost(c)) {
            return (
                cover.trail.to_string(),
                FileStatus::UnlistedNoDigest,
                format!(
                    "in no valid digest, and a digest of hour {} (or the hours beside it) is \
                     missing or invalid: its listing may have been removed",
                    format_time(hour)
                ),
            );
        }
        if let Some(cover) = chains
            .iter()
            .find(|c| hours.iter().all(|h| c.hours.contains(h)))
        {
            return (
                cover.trail.to_string(),
                FileStatus::Injected,
                format!(
                    "in the trail's folders, but no digest of hour {} (or the hours beside it) \
                     lists it: CloudTrail did not deliver it",
                    format_time(hour)
                ),
            );
        }
        let cover = &chains[0];
        (
            cover.trail.to_string(),
            FileStatus::Pending,
            format!(
                "no digest covers hour {} yet (the newest ends {}): the next ingest checks it",
                format_time(hour),
                format_time(cover.newest)
            ),
        )
    }
}

/// Status rank of an hour: higher is worse.
fn hour_rank(status: &str) -> u8 {
    match status {
        "verified" => 0,
        "pending" => 1,
        "unverified" => 2,
        "unlisted" => 3,
        "missing" => 4,
        "altered" => 5,
        "invalid-digest" => 6,
        _ => 7, // gap
    }
}

type HourKey = (String, Option<String>, String, String, i64);

/// The `deliveries` row of a trail's hour, made empty (verified) when new.
fn hour_row<'m>(
    rows: &'m mut BTreeMap<HourKey, DeliveryRow>,
    trail: &str,
    organization: Option<String>,
    account: &str,
    region: &str,
    hour: i64,
) -> &'m mut DeliveryRow {
    let key = (
        trail.to_string(),
        organization.clone(),
        account.to_string(),
        region.to_string(),
        hour,
    );
    rows.entry(key).or_insert_with(|| DeliveryRow {
        trail: trail.to_string(),
        organization,
        awsaccountid: account.to_string(),
        region: region.to_string(),
        hour,
        digests: 0,
        digest_status: None,
        files_expected: 0,
        files_present: 0,
        verified: 0,
        unverified: 0,
        missing: 0,
        altered: 0,
        unlisted: 0,
        gap: false,
        status: "verified".into(),
        problems: Vec::new(),
    })
}

impl DeliveryRow {
    /// Records a problem of the hour, keeping the worst status.
    fn worsen(&mut self, status: &str, problem: Option<String>) {
        if hour_rank(status) > hour_rank(&self.status) {
            self.status = status.to_string();
        }
        self.problems.extend(problem);
    }
}

/// The `deliveries` rows.
fn deliveries(
    digests: &[DigestRow],
    verdicts: &[DigestVerdict],
    gaps: &[Gap],
    files: &[LogFileRow],
) -> Vec<DeliveryRow> {
    let mut rows: BTreeMap<HourKey, DeliveryRow> = BTreeMap::new();
    let mut organizations: HashMap<(&str, &str, &str), Option<String>> = HashMap::new();
    for (row, verdict) in digests.iter().zip(verdicts) {
        organizations.insert(
            (&row.trail, &row.awsaccountid, &row.region),
            row.organization.clone(),
        );
        let out = hour_row(
            &mut rows,
            &row.trail,
            row.organization.clone(),
            &row.awsaccountid,
            &row.region,
            digest_hour(verdict.start),
        );
        out.digests += 1;
        out.files_expected += verdict.listed as u32;
        let worse = out
            .digest_status
            .as_deref()
            .is_none_or(|s| s == "verified" || verdict.status != DigestStatus::Verified);
        if worse {
            out.digest_status = Some(verdict.status.name().to_string());
        }
        let status = match verdict.status {
            DigestStatus::Verified => continue,
            DigestStatus::Unsigned | DigestStatus::UnknownKey => "unverified",
            _ => "invalid-digest",
        };
        for (_, problem) in &verdict.problems {
            out.worsen(status, Some(format!("{}: {problem}", row.sourcefile)));
        }
    }
    for gap in gaps {
        let mut hour = gap.from;
        while hour < gap.to {
            let out = hour_row(
                &mut rows,
                &gap.chain.trail,
                gap.chain.organization.clone(),
                &gap.chain.account,
                &gap.chain.region,
                hour,
            );
            out.gap = true;
            out.worsen("gap", Some(gap.reason.clone()));
            hour += HOUR_MS;
        }
    }
    for file in files {
        let org = organizations
            .get(&(
                file.trail.as_str(),
                file.awsaccountid.as_str(),
                file.region.as_str(),
            ))
            .cloned()
            .flatten();
        let out = hour_row(
            &mut rows,
            &file.trail,
            org,
            &file.awsaccountid,
            &file.region,
            file.hour,
        );
        let status = match file.status.as_str() {
            "verified" => {
                out.verified += 1;
                out.files_present += 1;
                continue;
            }
            "unverified" => {
                out.unverified += 1;
                out.files_present += 1;
                out.worsen("unverified", None);
                continue;
            }
            "missing" => {
                out.missing += 1;
                "missing"
            }
            "altered" => {
                out.altered += 1;
                out.files_present += 1;
                "altered"
            }
            "pending" => {
                out.unlisted += 1;
                "pending"
            }
            _ => {
                out.unlisted += 1;
                "unlisted"
            }
        };
        let problem = format!(
            "{} {}: {}",
            file.status,
            file.sourcefile.as_deref().unwrap_or(&file.s3key),
            file.detail.as_deref().unwrap_or("")
        );
        out.worsen(status, Some(problem));
    }
    rows.into_values().collect()
}

/// The schema of `deliveries` (without its `event_date` partition column, the day of `hour`).
pub fn deliveries_schema() -> arrow::datatypes::SchemaRef {
    static SCHEMA: std::sync::LazyLock<arrow::datatypes::SchemaRef> =
        std::sync::LazyLock::new(|| crate::record::rows::traced_schema::<DeliveryRow>(&["hour"]));
    SCHEMA.clone()
}

/// The schema of `logfiles` (without its `event_date` partition column, the day of `hour`).
pub fn logfiles_schema() -> arrow::datatypes::SchemaRef {
    static SCHEMA: std::sync::LazyLock<arrow::datatypes::SchemaRef> =
        std::sync::LazyLock::new(|| crate::record::rows::traced_schema::<LogFileRow>(&["hour"]));
    SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_from_awslogs_on_wherever_the_mirror_is() {
        assert_eq!(
            trail_key("s3://b/p/AWSLogs/1/CloudTrail/x.json.gz"),
            "AWSLogs/1/CloudTrail/x.json.gz"
        );
        assert_eq!(
            trail_key("/m/copy/AWSLogs/1/CloudTrail/x.json.gz"),
            "AWSLogs/1/CloudTrail/x.json.gz"
        );
        assert_eq!(
            trail_key("AWSLogs/1/CloudTrail/x.json.gz"),
            "AWSLogs/1/CloudTrail/x.json.gz"
        );
        // Not a segment of its own: the whole key.
        assert_eq!(trail_key("/m/NotAWSLogs/x"), "/m/NotAWSLogs/x");
    }

    #[test]
    fn file_names_give_their_delivery_time() {
        let minute = name_time("a/1_CloudTrail_us-east-1_20240305T1415Z_abc.json.gz");
        assert_eq!(minute, parse_time("2024-03-05T14:15:00Z"));
        let second = name_time(
            "a/1_CloudTrail-Digest_us-east-1_t_us-east-1_20240305T150131Z_backfill.json.gz",
        );
        assert_eq!(second, parse_time("2024-03-05T15:01:31Z"));
        assert_eq!(name_time("a/readme.txt"), None);
        // A digest's window of 14:01:31 to 15:01:31 is the 14:00 hour.
        assert_eq!(
            digest_hour(parse_time("2024-03-05T14:01:31Z").unwrap()),
            parse_time("2024-03-05T14:00:00Z").unwrap()
        );
    }
}
