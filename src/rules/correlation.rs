//! Sigma correlation rules (`event_count`, `value_count`, `temporal`, `temporal_ordered`): the
//! matches of the rules they name, grouped by the `group-by` fields, counted over time windows
//! of `timespan`.
//!
//! A window opens at each matched event of a group and holds what follows it within the
//! timespan (a sliding window, so a burst across an hour boundary is one burst). A condition
//! with only an upper bound (`lt`, `lte`) is judged on fixed windows aligned to the timespan
//! instead, since a window opened at an event can always be cut short. Overlapping windows that
//! fire are one episode: one finding.

use std::collections::{BTreeMap, HashMap, VecDeque};

use yaml_rust2::Yaml;

use super::fields::{Target, resolve};

/// The kind of correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// How many matching events.
    EventCount,
    /// How many distinct values of a field among them.
    ValueCount,
    /// The named rules all match (or as many as the condition says) within the timespan.
    Temporal,
    /// The named rules match in the order given within the timespan.
    TemporalOrdered,
}

impl Kind {
    /// The name used in rule files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::EventCount => "event_count",
            Kind::ValueCount => "value_count",
            Kind::Temporal => "temporal",
            Kind::TemporalOrdered => "temporal_ordered",
        }
    }
}

/// Bounds on a count, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Threshold {
    bounds: Vec<(Bound, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl Threshold {
    /// At least `n`.
    pub fn at_least(n: i64) -> Self {
        Self {
            bounds: vec![(Bound::Gte, n)],
        }
    }

    /// Whether a count passes.
    pub fn holds(&self, count: i64) -> bool {
        self.bounds.iter().all(|&(bound, n)| match bound {
            Bound::Gt => count > n,
            Bound::Gte => count >= n,
            Bound::Lt => count < n,
            Bound::Lte => count <= n,
            Bound::Eq => count == n,
            Bound::Neq => count != n,
        })
    }

    /// Whether it says only how many at most (then windows are fixed, not opened per event).
    fn upper_only(&self) -> bool {
        self.bounds
            .iter()
            .all(|(bound, _)| matches!(bound, Bound::Lt | Bound::Lte))
    }

    /// As written: `>= 10`, `> 2 and <= 5`.
    pub fn describe(&self) -> String {
        self.bounds
            .iter()
            .map(|(bound, n)| {
                let op = match bound {
                    Bound::Gt => ">",
                    Bound::Gte => ">=",
                    Bound::Lt => "<",
                    Bound::Lte => "<=",
                    Bound::Eq => "=",
                    Bound::Neq => "!=",
                };
                format!("{op} {n}")
            })
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// One rule a correlation names, with the SQL of its group-by fields (aliases resolved) and of
/// the counted field.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The match rule's id.
    pub rule: String,
    /// One SQL text expression per group-by field.
    pub keys: Vec<String>,
    /// The counted field (`value_count`), as SQL text.
    pub value: Option<String>,
}

/// A correlation rule's logic.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// Its kind.
    pub kind: Kind,
    /// The rules it names (ids or names, as written), in order.
    pub rules: Vec<String>,
    /// The group-by fields (or aliases), as written.
    pub group_by: Vec<String>,
    /// `aliases`: alias to (rule reference to field).
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    /// The timespan as written (`10m`).
    pub timespan: String,
    /// The timespan in milliseconds.
    pub timespan_ms: i64,
    /// The condition on the count.
    pub condition: Threshold,
    /// The field counted by `value_count`.
    pub field: Option<String>,
    /// Whether the named rules also make findings of their own (`generate`).
    pub generate: bool,
    /// The named rules, resolved when the whole set is loaded.
    pub members: Vec<Member>,
}

/// A time span: a number and a unit (`s`, `m`, `h`, `d`, `w`), in milliseconds.
pub fn parse_timespan(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("timespan `{text}` does not start with a number"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        other => {
            return Err(format!(
                "timespan `{text}`: the unit `{other}` is not one of s, m, h, d, w"
            ));
        }
    };
    if number <= 0 {
        return Err(format!("timespan `{text}` must be more than zero"));
    }
    Ok(number * unit_ms)
}

fn strings(yaml: &Yaml, what: &str) -> Result<Vec<String>, String> {
    match yaml {
        Yaml::BadValue | Yaml::Null => Ok(Vec::new()),
        Yaml::String(s) => Ok(vec![s.clone()]),
        Yaml::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| format!("`{what}` must be a list of text"))
            })
            .collect(),
        _ => Err(format!("`{what}` must be a list of text")),
    }
}

/// Parses a document's `correlation` section (its rules are resolved later, by `link`).
pub fn parse(section: &Yaml) -> Result<Correlation, String> {
    let kind = match section["type"].as_str() {
        Some("event_count") => Kind::EventCount,
        Some("value_count") => Kind::ValueCount,
        Some("temporal") => Kind::Temporal,
        Some("temporal_ordered") => Kind::TemporalOrdered,
        Some(other) => {
            return Err(format!(
                "correlation type `{other}` is not supported (event_count, value_count, \
                 temporal, temporal_ordered are)"
            ));
        }
        None => return Err("the correlation has no `type`".into()),
    };
    let rules = strings(&section["rules"], "rules")?;
    if rules.is_empty() {
        return Err("the correlation names no `rules`".into());
    }
    if matches!(kind, Kind::Temporal | Kind::TemporalOrdered) && rules.len() < 2 {
        return Err(format!(
            "a {} correlation names two rules or more",
            kind.name()
        ));
    }
    let timespan = match &section["timespan"] {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(n) => format!("{n}s"),
        _ => return Err("the correlation has no `timespan`".into()),
    };
    let timespan_ms = parse_timespan(&timespan)?;
    let mut aliases = BTreeMap::new();
    if let Yaml::Hash(map) = &section["aliases"] {
        for (alias, per_rule) in map {
            let alias = alias.as_str().ok_or("an alias name must be text")?;
            let Yaml::Hash(per_rule) = per_rule else {
                return Err(format!("alias `{alias}` must map rule names to fields"));
            };
            let mut fields = BTreeMap::new();
            for (rule, field) in per_rule {
                let (Some(rule), Some(field)) = (rule.as_str(), field.as_str()) else {
                    return Err(format!("alias `{alias}` must map rule names to fields"));
                };
                fields.insert(rule.to_string(), field.to_string());
            }
            aliases.insert(alias.to_string(), fields);
        }
    }
    let mut condition = Threshold::default();
    let mut field = None;
    match &section["condition"] {
        Yaml::Hash(map) => {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                if key == "field" {
                    field = Some(
                        value
                            .as_str()
                            .ok_or("the condition's `field` must be text")?
                            .to_string(),
                    );
                    continue;
                }
                let bound = match key {
                    "gt" => Bound::Gt,
                    "gte" => Bound::Gte,
                    "lt" => Bound::Lt,
                    "lte" => Bound::Lte,
                    "eq" => Bound::Eq,
                    "neq" => Bound::Neq,
                    other => {
                        return Err(format!(
                            "the condition's `{other}` is not one of gt, gte, lt, lte, eq, neq, field"
                        ));
                    }
                };
                let n = value
                    .as_i64()
                    .ok_or_else(|| format!("the condition's `{key}` must be a whole number"))?;
                condition.bounds.push((bound, n));
            }
        }
        Yaml::BadValue | Yaml::Null => {}
        _ => return Err("the correlation's `condition` must be a map (gte: 10)".into()),
    }
    match kind {
        Kind::EventCount | Kind::ValueCount if condition.bounds.is_empty() => {
            return Err(format!(
                "a {} correlation needs a condition (gte: N)",
                kind.name()
            ));
        }
        Kind::ValueCount if field.is_none() => {
            return Err(
                "a value_count correlation names the counted `field` in its condition".into(),
            );
        }
        Kind::EventCount | Kind::Temporal | Kind::TemporalOrdered if field.is_some() => {
            return Err(format!(
                "a {} correlation counts no field: drop the condition's `field`",
                kind.name()
            ));
        }
        Kind::TemporalOrdered if !condition.bounds.is_empty() => {
            return Err("a temporal_ordered correlation takes no condition: every rule must match, in order".into());
        }
        Kind::Temporal if condition.bounds.is_empty() => {
            condition = Threshold::at_least(rules.len() as i64);
        }
        _ => {}
    }
    let generate = match &section["generate"] {
        Yaml::Boolean(b) => *b,
        Yaml::BadValue | Yaml::Null => false,
        _ => return Err("`generate` must be true or false".into()),
    };
    Ok(Correlation {
        kind,
        rules,
        group_by: strings(&section["group-by"], "group-by")?,
        aliases,
        timespan,
        timespan_ms,
        condition,
        field,
        generate,
        members: Vec::new(),
    })
}

/// A field's values as one SQL text expression.
pub fn value_sql(field: &str) -> Result<String, String> {
    Ok(match resolve(field)? {
        Target::Text(column) => column,
        Target::Bool(column) | Target::Time(column) => format!("CAST({column} AS VARCHAR)"),
        Target::Payload { column, path } => {
            format!("json_find({column}, {})", crate::sql::literal(&path))
        }
    })
}

impl Correlation {
    /// Resolves the named rules (`find` gives a reference's rule id and name, when it is a
    /// loaded match rule) and the SQL of each one's group-by and counted fields.
    pub fn link(
        &mut self,
        find: impl Fn(&str) -> Result<(String, Option<String>), String>,
    ) -> Result<(), String> {
        let mut members = Vec::new();
        for reference in &self.rules {
            let (id, name) = find(reference)?;
            let field_of = |field: &str| -> Result<String, String> {
                match self.aliases.get(field) {
                    Some(per_rule) => per_rule
                        .get(reference)
                        .or_else(|| per_rule.get(&id))
                        .or_else(|| name.as_ref().and_then(|n| per_rule.get(n)))
                        .cloned()
                        .ok_or_else(|| {
                            format!("alias `{field}` gives no field for rule `{reference}`")
                        }),
                    None => Ok(field.to_string()),
                }
            };
            let keys = self
                .group_by
                .iter()
                .map(|field| value_sql(&field_of(field)?).map_err(|e| format!("group-by: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            let value = match &self.field {
                Some(field) => Some(
                    value_sql(&field_of(field)?).map_err(|e| format!("condition field: {e}"))?,
                ),
                None => None,
            };
            members.push(Member {
                rule: id,
                keys,
                value,
            });
        }
        self.members = members;
        Ok(())
    }

    /// A line saying what it counts: `event_count of rule-a by userIdentity.arn: >= 10 in 10m`.
    pub fn describe(&self) -> String {
        let by = if self.group_by.is_empty() {
            String::new()
        } else {
            format!(" by {}", self.group_by.join(", "))
        };
        let what = match (&self.kind, &self.field) {
            (Kind::ValueCount, Some(field)) => format!("distinct {field} of"),
            (Kind::TemporalOrdered, _) => "in order:".to_string(),
            _ => String::new(),
        };
        let condition = if self.kind == Kind::TemporalOrdered {
            String::new()
        } else {
            format!(": {}", self.condition.describe())
        };
        format!(
            "{} {what} {}{by}{condition} within {}",
            self.kind.name(),
            self.rules.join(", "),
            self.timespan
        )
        .replace("  ", " ")
    }

    /// The episodes of one group's events (in time order), each as the indexes of its events:
    /// the whole history judged at once.
    pub fn episodes(&self, events: &[Occurrence]) -> Vec<Vec<usize>> {
        let mut tracker = Tracker::default();
        for (i, event) in events.iter().enumerate() {
            tracker.push(event.clone(), i);
        }
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut open = Vec::new();
        tracker.advance(self, i64::MAX, |step| match step {
            Step::Add(&i) => open.push(i),
            Step::Close => out.push(std::mem::take(&mut open)),
        });
        out
    }
}

/// What a tracker reports as it judges windows.
pub enum Step<'a, T> {
    /// An event joins the open episode.
    Add(&'a T),
    /// The open episode is complete.
    Close,
}

/// One group's matched events of a correlation, judged as days arrive: it holds only the
/// events a window not yet judged may still need, so memory stays at about a day's matches.
#[derive(Debug)]
pub struct Tracker<T> {
    events: VecDeque<(Occurrence, T)>,
    /// Sequence number of `events[0]`.
    base: u64,
    /// The first window start not judged yet.
    next: u64,
    /// Events before this one were added to an episode already.
    added: u64,
    /// The end (exclusive) of the open episode's windows.
    open_until: Option<u64>,
}

impl<T> Default for Tracker<T> {
    fn default() -> Self {
        Self {
            events: VecDeque::new(),
            base: 0,
            next: 0,
            added: 0,
            open_until: None,
        }
    }
}

impl<T> Tracker<T> {
    fn at(&self, seq: u64) -> &(Occurrence, T) {
        &self.events[(seq - self.base) as usize]
    }

    /// Adds an event; events come in time order.
    pub fn push(&mut self, event: Occurrence, payload: T) {
        self.events.push_back((event, payload));
    }

    /// Whether it holds nothing and has no open episode.
    pub fn is_idle(&self) -> bool {
        self.events.is_empty() && self.open_until.is_none()
    }

    /// Judges every window that ends before `cutoff` (no later event can join it), reporting
    /// episodes through `step`; `i64::MAX` judges all, and closes the last episode.
    pub fn advance(&mut self, c: &Correlation, cutoff: i64, mut step: impl FnMut(Step<'_, T>)) {
        let complete = |end_ms: i64| cutoff == i64::MAX || end_ms < cutoff;
        let len = self.base + self.events.len() as u64;
        if c.condition.upper_only() && c.kind != Kind::TemporalOrdered {
            // Fixed windows: each bucket of the timespan that holds events is judged alone.
            while self.next < len {
                let bucket = self.at(self.next).0.ms.div_euclid(c.timespan_ms);
                if !complete((bucket + 1) * c.timespan_ms - 1) {
                    break;
                }
                let mut end = self.next;
                while end < len && self.at(end).0.ms.div_euclid(c.timespan_ms) == bucket {
                    end += 1;
                }
                let window: Vec<&Occurrence> =
                    (self.next..end).map(|seq| &self.at(seq).0).collect();
                if c.condition.holds(count(c, &window)) {
                    for seq in self.next..end {
                        step(Step::Add(&self.at(seq).1));
                    }
                    step(Step::Close);
                }
                self.next = end;
            }
        } else {
            let mut end = self.next;
            let mut values: HashMap<String, usize> = HashMap::new();
            let mut per_member = vec![0usize; c.members.len()];
            while self.next < len {
                let start_ms = self.at(self.next).0.ms;
                if !complete(start_ms.saturating_add(c.timespan_ms)) {
                    break;
                }
                // The window [next, end): the events no later than its first plus the timespan.
                while end < len && self.at(end).0.ms - start_ms <= c.timespan_ms {
                    let event = &self.at(end).0;
                    if let Some(v) = &event.value {
                        *values.entry(v.clone()).or_default() += 1;
                    }
                    per_member[event.member] += 1;
                    end += 1;
                }
                let passes = match c.kind {
                    Kind::EventCount => c.condition.holds((end - self.next) as i64),
                    Kind::ValueCount => c.condition.holds(values.len() as i64),
                    Kind::Temporal => c
                        .condition
                        .holds(per_member.iter().filter(|&&n| n > 0).count() as i64),
                    Kind::TemporalOrdered => {
                        let window: Vec<usize> =
                            (self.next..end).map(|seq| self.at(seq).0.member).collect();
                        in_order(&window, c.members.len())
                    }
                };
                if passes {
                    match self.open_until {
                        Some(until) if self.next < until => self.open_until = Some(until.max(end)),
                        Some(_) => {
                            step(Step::Close);
                            self.open_until = Some(end);
                        }
                        None => self.open_until = Some(end),
                    }
                    for seq in self.added.max(self.next)..end {
                        step(Step::Add(&self.at(seq).1));
                    }
                    self.added = self.added.max(end);
                } else if self.open_until.is_some_and(|until| self.next >= until) {
                    step(Step::Close);
                    self.open_until = None;
                }
                let first = &self.at(self.next).0;
                if let Some(v) = &first.value {
                    let n = values.get_mut(v).expect("counted");
                    *n -= 1;
                    if *n == 0 {
                        values.remove(v);
                    }
                }
                per_member[first.member] -= 1;
                self.next += 1;
            }
        }
        // Windows starting from `next` on need no earlier event.
        while self.base < self.next {
            self.events.pop_front();
            self.base += 1;
        }
        if cutoff == i64::MAX && self.open_until.take().is_some() {
            step(Step::Close);
        }
    }
}

/// What a fixed window's condition counts.
fn count(c: &Correlation, window: &[&Occurrence]) -> i64 {
    let distinct = |mut items: Vec<String>| {
        items.sort_unstable();
        items.dedup();
        items.len() as i64
    };
    match c.kind {
        Kind::ValueCount => distinct(window.iter().filter_map(|e| e.value.clone()).collect()),
        Kind::Temporal => distinct(window.iter().map(|e| e.member.to_string()).collect()),
        _ => window.len() as i64,
    }
}

/// Whether a window's members (in time order) hold 0, 1, ... in that order, starting with its
/// first event.
fn in_order(window: &[usize], members: usize) -> bool {
    if window.first() != Some(&0) {
        return false;
    }
    let mut wanted = 1;
    for &member in &window[1..] {
        if wanted == members {
            break;
        }
        if member == wanted {
            wanted += 1;
        }
    }
    wanted == members
}

/// One matched event of a correlated rule, as the windows see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// Event time, in milliseconds.
    pub ms: i64,
    /// Which of the correlation's rules matched it.
    pub member: usize,
    /// The counted field's value (`value_count`).
    pub value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::YamlLoader;

    fn correlation(text: &str) -> Result<Correlation, String> {
        let doc = YamlLoader::load_from_str(text).unwrap().remove(0);
        let mut c = parse(&doc)?;
        c.link(|r| Ok((r.to_string(), None)))?;
        Ok(c)
    }

    fn at(minute: i64, member: usize, value: Option<&str>) -> Occurrence {
        Occurrence {
            ms: minute * 60_000,
            member,
            value: value.map(String::from),
        }
    }

    #[test]
    fn event_counts_fire_on_sliding_windows_and_merge_overlaps() {
        let c = correlation(
            "type: event_count\nrules: [a]\ngroup-by: [userIdentity.arn]\ntimespan: 10m\ncondition:\n  gte: 3\n",
        )
        .unwrap();
        assert_eq!(c.members[0].keys, ["useridentity.arn"]);
        // Three within 10 minutes across an hour boundary: one burst, not two halves.
        let events = [at(55, 0, None), at(61, 0, None), at(64, 0, None)];
        assert_eq!(c.episodes(&events), [vec![0, 1, 2]]);
        // Spread out: never three in 10 minutes.
        let sparse = [
            at(0, 0, None),
            at(8, 0, None),
            at(20, 0, None),
            at(29, 0, None),
        ];
        assert!(c.episodes(&sparse).is_empty());
        // Two bursts far apart are two episodes; overlapping windows within one are merged.
        let two = [
            at(0, 0, None),
            at(1, 0, None),
            at(2, 0, None),
            at(3, 0, None),
            at(100, 0, None),
            at(101, 0, None),
            at(102, 0, None),
        ];
        assert_eq!(c.episodes(&two), [vec![0, 1, 2, 3], vec![4, 5, 6]]);
    }

    #[test]
    fn value_counts_count_distinct_values_and_ignore_missing_ones() {
        let c = correlation(
            "type: value_count\nrules: [a]\ntimespan: 1h\ncondition:\n  field: requestParameters.bucketName\n  gt: 2\n",
        )
        .unwrap();
        assert_eq!(
            c.members[0].value.as_deref(),
            Some("json_find(requestparameters, 'bucketName')")
        );
        let same = [
            at(0, 0, Some("b1")),
            at(1, 0, Some("b1")),
            at(2, 0, Some("b1")),
            at(3, 0, None),
        ];
        assert!(c.episodes(&same).is_empty());
        let many = [
            at(0, 0, Some("b1")),
            at(1, 0, Some("b2")),
            at(2, 0, None),
            at(3, 0, Some("b3")),
        ];
        assert_eq!(c.episodes(&many), [vec![0, 1, 2, 3]]);
    }

    #[test]
    fn temporal_needs_every_rule_and_ordered_needs_their_order() {
        let text = "rules: [a, b, c]\ngroup-by: [sourceIPAddress]\ntimespan: 5m\n";
        let any = correlation(&format!("type: temporal\n{text}")).unwrap();
        let ordered = correlation(&format!("type: temporal_ordered\n{text}")).unwrap();
        let abc = [at(0, 0, None), at(1, 1, None), at(2, 2, None)];
        let cba = [at(0, 2, None), at(1, 1, None), at(2, 0, None)];
        let ab = [at(0, 0, None), at(1, 1, None), at(9, 2, None)];
        assert_eq!(any.episodes(&abc), [vec![0, 1, 2]]);
        assert_eq!(any.episodes(&cba), [vec![0, 1, 2]]);
        assert!(any.episodes(&ab).is_empty());
        assert_eq!(ordered.episodes(&abc), [vec![0, 1, 2]]);
        assert!(ordered.episodes(&cba).is_empty());
        // Noise in between does not break the order.
        let noisy = [
            at(0, 0, None),
            at(1, 2, None),
            at(2, 1, None),
            at(3, 0, None),
            at(4, 2, None),
        ];
        assert_eq!(ordered.episodes(&noisy), [vec![0, 1, 2, 3, 4]]);
        // A temporal condition may ask for fewer than all.
        let two_of = correlation(&format!("type: temporal\n{text}condition:\n  gte: 2\n")).unwrap();
        assert_eq!(two_of.episodes(&ab), [vec![0, 1]]);
    }

    #[test]
    fn upper_bounds_are_judged_on_fixed_windows() {
        let c = correlation("type: event_count\nrules: [a]\ntimespan: 1h\ncondition:\n  lt: 2\n")
            .unwrap();
        let events = [
            at(10, 0, None),
            at(70, 0, None),
            at(80, 0, None),
            at(150, 0, None),
        ];
        assert_eq!(c.episodes(&events), [vec![0], vec![3]]);
    }

    #[test]
    fn bad_correlations_say_what_is_wrong() {
        let err = |text: &str| correlation(text).unwrap_err();
        assert!(err("type: near\nrules: [a]\ntimespan: 1m\n").contains("`near` is not supported"));
        assert!(err("type: event_count\nrules: [a]\ntimespan: 1m\n").contains("needs a condition"));
        assert!(
            err("type: value_count\nrules: [a]\ntimespan: 1m\ncondition:\n  gte: 2\n")
                .contains("`field`")
        );
        assert!(
            err("type: event_count\nrules: [a]\ntimespan: 1y\ncondition:\n  gte: 2\n")
                .contains("unit `y`")
        );
        assert!(err("type: temporal\nrules: [a]\ntimespan: 1m\n").contains("two rules"));
        assert!(
            err("type: event_count\nrules: [a]\ngroup-by: [userIdentity.nosuch]\ntimespan: 1m\ncondition:\n  gte: 2\n")
                .contains("no member `nosuch`")
        );
        let aliased = "type: temporal\nrules: [a, b]\ngroup-by: [who]\ntimespan: 1m\naliases:\n  who:\n    a: userIdentity.arn\n";
        assert!(err(aliased).contains("alias `who` gives no field for rule `b`"));
        assert_eq!(parse_timespan("90s"), Ok(90_000));
        assert_eq!(parse_timespan("2d"), Ok(2 * 86_400_000));
    }
}
