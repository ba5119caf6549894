//! Rules over `events`: one query evaluates every match rule (each a column of it) and reads
//! the fields correlations group by; its rows become hits. A match rule's hits are grouped per
//! rule, day, account, region and principal, so a principal doing the same thing 500 times is
//! one hit with a count; a correlation's are its episodes.
//!
//! The query's rows are those some rule may match: a rule that requires one of a few event
//! names is tested only on events with those names, and when the names present in the lake are
//! known the test is an exact `eventname IN (...)`, which the Parquet page index prunes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};

use super::correlation::{Occurrence, Step, Tracker};
use super::{Matched, Rule, Suppression};
use crate::error::Result;
use crate::record::time::day_of;
use crate::sql::literals;

/// Matched event ids and source files kept per hit.
pub const KEPT: usize = 100;

/// The columns every row of the query starts with.
const FIXED: [&str; 10] = [
    "coalesce(eventid, concat(sourcefile, '#', CAST(sourceindex AS VARCHAR)))",
    "CAST(eventtime AS BIGINT)",
    "recipientaccountid",
    "awsregion",
    "coalesce(principal, '')",
    "sourcefile",
    "eventsource",
    "eventname",
    "coalesce(sourceipaddress, '')",
    "coalesce(useragent, '')",
];

/// A matched event, as a hit keeps it.
#[derive(Debug, Clone)]
struct Seen {
    id: String,
    ms: i64,
    account: String,
    region: String,
    principal: String,
    file: String,
    api: (String, String),
}

/// What the matches of one hit add up to.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The first match's time (ms).
    pub first_ms: i64,
    /// The last match's time (ms).
    pub last_ms: i64,
    /// Matches.
    pub count: i64,
    /// Matched event ids (at most `KEPT`), sorted.
    pub event_ids: Vec<String>,
    /// Their source files (at most `KEPT`).
    pub files: Vec<String>,
    /// The first match's account, region and principal.
    pub account: String,
    /// See `account`.
    pub region: String,
    /// See `account`.
    pub principal: String,
    /// The first match's `(eventsource, eventname)`.
    pub api: (String, String),
}

impl Found {
    fn add(&mut self, seen: &Seen) {
        if self.count == 0 || seen.ms < self.first_ms {
            self.first_ms = seen.ms;
            self.account.clone_from(&seen.account);
            self.region.clone_from(&seen.region);
            self.principal.clone_from(&seen.principal);
            self.api.clone_from(&seen.api);
        }
        self.last_ms = if self.count == 0 {
            seen.ms
        } else {
            self.last_ms.max(seen.ms)
        };
        self.count += 1;
        if self.event_ids.len() < KEPT {
            self.event_ids.push(seen.id.clone());
        }
        if self.files.len() < KEPT && !self.files.contains(&seen.file) {
            self.files.push(seen.file.clone());
        }
    }
}

/// One hit: a match rule's matches in a day by one principal in one account and region, or one
/// episode of a correlation.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The rule's index in the rules evaluated.
    pub rule: usize,
    /// The suppression (index) that applies to it, if one does.
    pub suppressed: Option<usize>,
    /// A correlation's group: (group-by field, value).
    pub group: Vec<(String, String)>,
    /// What the matches add up to.
    pub found: Found,
}

/// How one evaluated match rule is used.
struct Column {
    /// Its index in the rules.
    rule: usize,
    /// Whether its matches are hits of its own.
    own: bool,
    /// The (correlation's rule index, member index) its matches feed.
    feeds: Vec<(usize, usize)>,
}

/// A correlation member's group-by fields and counted field, as indexes of the plan's fields.
type MemberFields = (Vec<usize>, Option<usize>);

/// The query and how its columns are read.
pub struct Plan<'a> {
    rules: &'a [Rule],
    columns: Vec<Column>,
    tests: Vec<String>,
    /// Expressions of group-by and counted fields, deduplicated.
    fields: Vec<String>,
    /// Per correlation (by rule index), per member: its key fields' and counted field's
    /// indexes in `fields`.
    members: BTreeMap<usize, Vec<MemberFields>>,
    filter: String,
}

impl<'a> Plan<'a> {
    /// The plan for `rules`; `present` are the event names in the scanned events, when known
    /// (the exact names the rules' required names match, without case).
    pub fn new(rules: &'a [Rule], present: Option<&[String]>) -> Self {
        let index: HashMap<&str, usize> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        // Which correlations use each match rule, and whether it still makes hits of its own.
        let mut feeds: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        let mut generates: BTreeMap<usize, bool> = BTreeMap::new();
        for (c, rule) in rules.iter().enumerate() {
            if let Some(correlation) = rule.correlation() {
                for (m, member) in correlation.members.iter().enumerate() {
                    if let Some(&r) = index.get(member.rule.as_str()) {
                        feeds.entry(r).or_default().push((c, m));
                        *generates.entry(r).or_default() |= correlation.generate;
                    }
                }
            }
        }
        let mut fields: Vec<String> = Vec::new();
        let mut field = |sql: &String| match fields.iter().position(|f| f == sql) {
            Some(i) => i,
            None => {
                fields.push(sql.clone());
                fields.len() - 1
            }
        };
        let mut members = BTreeMap::new();
        for (c, rule) in rules.iter().enumerate() {
            if let Some(correlation) = rule.correlation() {
                let columns = correlation
                    .members
                    .iter()
                    .map(|m| {
                        (
                            m.keys.iter().map(&mut field).collect(),
                            m.value.as_ref().map(&mut field),
                        )
                    })
                    .collect();
                members.insert(c, columns);
            }
        }
        let mut columns = Vec::new();
        let mut tests = Vec::new();
        let mut names: BTreeSet<&str> = BTreeSet::new();
        let mut unnamed: Vec<String> = Vec::new();
        let exact = |wanted: &[String]| -> Option<Vec<&str>> {
            present.map(|present| {
                present
                    .iter()
                    .filter(|p| wanted.contains(&p.to_lowercase()))
                    .map(String::as_str)
                    .collect()
            })
        };
        for (r, rule) in rules.iter().enumerate() {
            let Some(compiled) = rule.condition() else {
                continue;
            };
            let fed = feeds.remove(&r).unwrap_or_default();
            let own = fed.is_empty() || generates.get(&r).copied().unwrap_or(false);
            let test = match &compiled.event_names {
                Some(wanted) => {
                    let guard = match exact(wanted) {
                        Some(found) if found.is_empty() => None,
                        Some(found) => {
                            names.extend(found.iter().copied());
                            Some(format!("eventname IN ({})", literals(found)))
                        }
                        None => {
                            let guard = format!("lower(eventname) IN ({})", literals(wanted));
                            unnamed.push(guard.clone());
                            Some(guard)
                        }
                    };
                    match guard {
                        // None of its events is in the scan: it cannot match.
                        None => "false".to_string(),
                        Some(guard) => format!(
                            "CASE WHEN {guard} THEN coalesce({}, false) ELSE false END",
                            compiled.sql
                        ),
                    }
                }
                None => {
                    let test = format!("coalesce({}, false)", compiled.sql);
                    unnamed.push(test.clone());
                    test
                }
            };
            columns.push(Column {
                rule: r,
                own,
                feeds: fed,
            });
            tests.push(test);
        }
        let mut candidates = unnamed;
        if !names.is_empty() {
            candidates.push(format!("eventname IN ({})", literals(names)));
        }
        let filter = if candidates.is_empty() {
            "false".to_string()
        } else {
            candidates.join(" OR ")
        };
        Self {
            rules,
            columns,
            tests,
            fields,
            members,
            filter,
        }
    }

    /// The query over the rows that `range` (a SQL condition) selects.
    pub fn sql(&self, range: &str) -> String {
        let tests = self
            .tests
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{t} AS r{i}"));
        let fields = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| format!("CAST({f} AS VARCHAR) AS f{i}"));
        let select: Vec<String> = FIXED
            .iter()
            .map(|c| c.to_string())
            .chain(tests)
            .chain(fields)
            .collect();
        format!(
            "SELECT {} FROM events WHERE {range} AND ({})",
            select.join(", "),
            self.filter
        )
    }

    /// Whether no rule can match anything.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

type GroupKey = (usize, i32, String, String, String, Option<usize>);
type CorrelationKey = (usize, Vec<String>, Option<usize>);

/// Turns the query's rows into hits, day by day.
pub struct Collector<'p> {
    plan: &'p Plan<'p>,
    suppressions: &'p [Suppression],
    groups: BTreeMap<GroupKey, Found>,
    trackers: BTreeMap<CorrelationKey, (Tracker<Seen>, Found)>,
    episodes: Vec<Hit>,
    /// The day's correlation events, before they are put in time order.
    pending: BTreeMap<CorrelationKey, Vec<(Occurrence, Seen)>>,
}

impl<'p> Collector<'p> {
    /// A collector for the plan's rows.
    pub fn new(plan: &'p Plan<'p>, suppressions: &'p [Suppression]) -> Self {
        Self {
            plan,
            suppressions,
            groups: BTreeMap::new(),
            trackers: BTreeMap::new(),
            episodes: Vec::new(),
            pending: BTreeMap::new(),
        }
    }

    /// Adds rows of the query.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let plan = self.plan;
        // Most rows the query keeps are candidates no rule matched: drop them before any
        // value is copied.
        let mut any: Option<BooleanArray> = None;
        for t in 0..plan.columns.len() {
            let hits = batch.column(FIXED.len() + t).as_boolean();
            if hits.true_count() == 0 {
                continue;
            }
            any = Some(match any {
                None => hits.clone(),
                Some(so_far) => arrow::compute::or(&so_far, hits)?,
            });
        }
        let Some(any) = any else {
            return Ok(());
        };
        let batch = &arrow::compute::filter_record_batch(batch, &any)?;
        let texts: Vec<_> = (0..FIXED.len())
            .filter(|&i| i != 1)
            .map(|i| cast(batch.column(i), &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let times = cast(batch.column(1), &DataType::Int64)?;
        let times = times.as_primitive::<Int64Type>();
        let first_field = FIXED.len() + plan.tests.len();
        let fields: Vec<_> = (0..plan.fields.len())
            .map(|i| cast(batch.column(first_field + i), &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let text = |columns: &[arrow::array::ArrayRef], c: usize, row: usize| {
            let column = columns[c].as_string::<i32>();
            column.is_valid(row).then(|| column.value(row).to_string())
        };
        // Columns 0 and 2.. of FIXED, in that order.
        let value = |c: usize, row: usize| text(&texts, c, row).unwrap_or_default();
        for (t, column) in plan.columns.iter().enumerate() {
            let hits = batch.column(FIXED.len() + t).as_boolean();
            if hits.true_count() == 0 {
                continue;
            }
            for row in hits.values().set_indices() {
                let seen = Seen {
                    id: value(0, row),
                    ms: times.value(row),
                    account: value(1, row),
                    region: value(2, row),
                    principal: value(3, row),
                    file: value(4, row),
                    api: (value(5, row), value(6, row)),
                };
                let (source_ip, user_agent) = (value(7, row), value(8, row));
                let matched = Matched {
                    principal: &seen.principal,
                    account: &seen.account,
                    source_ip: &source_ip,
                    user_agent: &user_agent,
                };
                let suppressed_for = |rule: &Rule| {
                    self.suppressions
                        .iter()
                        .position(|s| s.applies(rule, &matched))
                };
                for &(c, m) in &column.feeds {
                    let (keys, counted) = &plan.members[&c][m];
                    let key = keys
                        .iter()
                        .map(|&f| text(&fields, f, row).unwrap_or_default())
                        .collect();
                    let occurrence = Occurrence {
                        ms: seen.ms,
                        member: m,
                        value: counted.and_then(|f| text(&fields, f, row)),
                    };
                    let suppressed = suppressed_for(&plan.rules[c]);
                    self.pending
                        .entry((c, key, suppressed))
                        .or_default()
                        .push((occurrence, seen.clone()));
                }
                if column.own {
                    let rule = &plan.rules[column.rule];
                    let key = (
                        column.rule,
                        day_of(seen.ms),
                        seen.account.clone(),
                        seen.region.clone(),
                        seen.principal.clone(),
                        suppressed_for(rule),
                    );
                    self.groups.entry(key).or_default().add(&seen);
                }
            }
        }
        Ok(())
    }

    /// Ends a day of rows: events before `cutoff_ms` are all in, so correlation windows ending
    /// before it are judged (`i64::MAX`: everything is in).
    pub fn end_day(&mut self, cutoff_ms: i64) {
        for (key, mut events) in std::mem::take(&mut self.pending) {
            events.sort_by(|(a, x), (b, y)| (a.ms, a.member, &x.id).cmp(&(b.ms, b.member, &y.id)));
            let (tracker, _) = self.trackers.entry(key).or_default();
            for (occurrence, seen) in events {
                tracker.push(occurrence, seen);
            }
        }
        let rules = self.plan.rules;
        let mut idle = Vec::new();
        for (key, (tracker, open)) in self.trackers.iter_mut() {
            let correlation = rules[key.0].correlation().expect("a correlation");
            tracker.advance(correlation, cutoff_ms, |step| match step {
                Step::Add(seen) => open.add(seen),
                Step::Close => self.episodes.push(Hit {
                    rule: key.0,
                    suppressed: key.2,
                    group: correlation
                        .group_by
                        .iter()
                        .cloned()
                        .zip(key.1.iter().cloned())
                        .collect(),
                    found: std::mem::take(open),
                }),
            });
            if tracker.is_idle() {
                idle.push(key.clone());
            }
        }
        for key in idle {
            self.trackers.remove(&key);
        }
    }

    /// Every hit, in rule order.
    pub fn finish(mut self) -> Vec<Hit> {
        self.end_day(i64::MAX);
        let mut hits: Vec<Hit> = self
            .groups
            .into_iter()
            .map(|((rule, _, _, _, _, suppressed), found)| Hit {
                rule,
                suppressed,
                group: Vec::new(),
                found,
            })
            .chain(self.episodes)
            .collect();
        for hit in &mut hits {
            hit.found.event_ids.sort();
        }
        hits.sort_by_key(|h| (h.rule, h.found.first_ms));
        hits
    }
}
