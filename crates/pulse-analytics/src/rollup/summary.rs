//! Per-day summaries of the large fact families (lead times, merged pull requests, deployments,
//! failed deployments and incidents), so a long range costs a few small cells instead of every
//! item's facts.
//!
//! A summary holds exact counters (items, flags, size classes, sums, minimum and maximum), the
//! ids a report lists, and, for
//! each distribution the reports give, a mergeable log-bucketed histogram. Whole-second values
//! below 128 have a bucket each (exact); above, each power of two is split into 64 buckets, so a
//! bucket spans at most 1/64 of its lower bound. A quantile found from merged histograms takes
//! the exact rank (counts are exact) and places it at its bucket's midpoint, clamped to the exact
//! minimum and maximum: the value is within 1/128 (0.78 %) of the exact order statistic. Counts,
//! shares, means, minima and maxima stay exact. When a range's reports use summaries, and when
//! they do not, is [`super::read`]'s business. Pure: no IO.

use pulse_metrics::pull_requests::SizeBucket;
use pulse_metrics::stats::Distribution;

use uuid::Uuid;

use super::facts::{DeploymentFact, FailedFact, IncidentFact, LeadFact, PullRequestFact, DAY};

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 6;
/// Values below this have a bucket each.
const EXACT_BELOW: u64 = 2 << SUB_BITS;

/// The bucket of a magnitude.
fn index(v: u64) -> i32 {
    if v < EXACT_BELOW {
        return v as i32;
    }
    let e = 63 - v.leading_zeros();
    let m = (v >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (EXACT_BELOW + u64::from(e - SUB_BITS - 1) * (1 << SUB_BITS) + m) as i32
}

/// The magnitudes `[lo, hi)` a bucket holds.
fn bounds(ix: i32) -> (u64, u64) {
    let ix = ix as u64;
    if ix < EXACT_BELOW {
        return (ix, ix + 1);
    }
    let rel = ix - EXACT_BELOW;
    let e = rel / (1 << SUB_BITS) + u64::from(SUB_BITS) + 1;
    let m = rel % (1 << SUB_BITS);
    let shift = e - u64::from(SUB_BITS);
    let lo = ((1 << SUB_BITS) + m) << shift;
    (lo, lo + (1 << shift))
}

/// The signed bucket key of a value: ordered as the values are.
fn key(v: i64) -> i32 {
    if v >= 0 {
        index(v as u64)
    } else {
        -index(v.unsigned_abs()) - 1
    }
}

/// The value a bucket stands for: the mean of the whole numbers it holds.
fn representative(key: i32) -> f64 {
    let (neg, ix) = if key >= 0 {
        (false, key)
    } else {
        (true, -key - 1)
    };
    let (lo, hi) = bounds(ix);
    let mid = (lo as f64 + (hi - 1) as f64) / 2.0;
    if neg {
        -mid
    } else {
        mid
    }
}

/// A mergeable histogram of whole numbers with their exact count, sum, minimum and maximum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    count: u64,
    sum: i128,
    min: i64,
    max: i64,
    /// `(bucket key, count)`, by key.
    buckets: Vec<(i32, u64)>,
}

impl Histogram {
    /// The histogram of `values`.
    pub fn of(values: impl IntoIterator<Item = i64>) -> Self {
        let mut all: Vec<i64> = values.into_iter().collect();
        all.sort_unstable();
        let mut h = Self::default();
        for v in all {
            h.push_sorted(v);
        }
        h
    }

    /// Adds a value not below any value added so far.
    fn push_sorted(&mut self, v: i64) {
        self.note(v, 1);
        let k = key(v);
        match self.buckets.last_mut() {
            Some((last, n)) if *last == k => *n += 1,
            _ => self.buckets.push((k, 1)),
        }
    }

    fn note(&mut self, v: i64, n: u64) {
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += n;
        self.sum += i128::from(v) * i128::from(n as i64);
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Their exact sum.
    pub fn sum(&self) -> i128 {
        self.sum
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
        let mut out = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut a, mut b) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&(ka, na)), Some(&&(kb, nb))) => {
                    if ka == kb {
                        out.push((ka, na + nb));
                        a.next();
                        b.next();
                    } else if ka < kb {
                        out.push((ka, na));
                        a.next();
                    } else {
                        out.push((kb, nb));
                        b.next();
                    }
                }
                (Some(&&x), None) => {
                    out.push(x);
                    a.next();
                }
                (None, Some(&&x)) => {
                    out.push(x);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.buckets = out;
    }

    /// The value of rank `r` (0-based, `r < count`): exact for the extremes and for buckets of
    /// one value, else its bucket's representative within the exact extremes.
    fn at_rank(&self, r: u64) -> f64 {
        if r == 0 {
            return self.min as f64;
        }
        if r + 1 >= self.count {
            return self.max as f64;
        }
        let mut seen = 0;
        for &(k, n) in &self.buckets {
            seen += n;
            if r < seen {
                return representative(k).clamp(self.min as f64, self.max as f64);
            }
        }
        self.max as f64
    }

    /// The interpolated `p`-quantile, with the definition of `pulse_metrics::stats`.
    fn quantile(&self, p: f64) -> f64 {
        let h = (self.count - 1) as f64 * p;
        let lo = h.floor() as u64;
        let frac = h - lo as f64;
        let at_lo = self.at_rank(lo);
        if frac == 0.0 || lo + 1 >= self.count {
            return at_lo;
        }
        at_lo + frac * (self.at_rank(lo + 1) - at_lo)
    }

    /// The distribution the values would give, with the quantiles from the buckets.
    pub fn distribution(&self) -> Option<Distribution> {
        (self.count > 0).then(|| Distribution {
            count: self.count as usize,
            median: self.quantile(0.5),
            p75: self.quantile(0.75),
            p90: self.quantile(0.9),
            mean: self.sum as f64 / self.count as f64,
            min: self.min as f64,
            max: self.max as f64,
        })
    }

    /// The median alone.
    pub fn median(&self) -> Option<f64> {
        (self.count > 0).then(|| self.quantile(0.5))
    }

    fn put(&self, w: &mut Vec<u8>) {
        varint(w, self.count);
        if self.count == 0 {
            return;
        }
        zigzag(w, self.sum as i64);
        zigzag(w, self.min);
        zigzag(w, self.max);
        varint(w, self.buckets.len() as u64);
        let mut previous = 0i64;
        for &(k, n) in &self.buckets {
            zigzag(w, i64::from(k) - previous);
            varint(w, n);
            previous = i64::from(k);
        }
    }

    fn get(r: &mut Bytes<'_>) -> Option<Self> {
        let count = r.varint()?;
        if count == 0 {
            return Some(Self::default());
        }
        let sum = i128::from(r.zigzag()?);
        let (min, max) = (r.zigzag()?, r.zigzag()?);
        let len = usize::try_from(r.varint()?).ok()?;
        let mut buckets = Vec::with_capacity(len.min(4096));
        let mut previous = 0i64;
        let mut total = 0u64;
        for _ in 0..len {
            previous += r.zigzag()?;
            let n = r.varint()?;
            total = total.checked_add(n)?;
            buckets.push((i32::try_from(previous).ok()?, n));
        }
        (total == count && min <= max).then_some(Self {
            count,
            sum,
            min,
            max,
            buckets,
        })
    }
}

fn varint(w: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        w.push((v as u8) | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

fn zigzag(w: &mut Vec<u8>, v: i64) {
    varint(w, ((v << 1) ^ (v >> 63)) as u64);
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
    fn zigzag(&mut self) -> Option<i64> {
        let u = self.varint()?;
        Some((u >> 1) as i64 ^ -((u & 1) as i64))
    }
}

/// A summary kind: how a day's facts of one family fold into one value.
pub trait Summary: Sized + Default + Clone {
    /// The facts it summarises.
    type Of;
    /// Summary family (stored as `rollup_cells.family`).
    const FAMILY: i16;
    /// The summary of one day's facts.
    fn of(facts: &[Self::Of]) -> Self;
    /// Adds another summary.
    fn merge(&mut self, other: &Self);
    /// Encodes it.
    fn encode(&self) -> Vec<u8>;
    /// Decodes it; `None` when the bytes are not a summary of this kind.
    fn decode(data: &[u8]) -> Option<Self>;
    /// Whether a report places its items on local days (deployment days): a summarised day must
    /// then split at its local midnight on a quarter hour ([`quarter_split`]).
    const LOCAL_DAYS: bool = false;
}

/// A stored summary cell's summary; a cell that does not decode is corrupt and refused.
pub fn of_cell<S: Summary>(cell: &pulse_db::repo::rollups::Cell) -> pulse_core::Result<S> {
    S::decode(&cell.data).ok_or_else(|| {
        pulse_core::Error::internal(anyhow::anyhow!(
            "rollup summary of family {} on day {} is corrupt",
            cell.key.family,
            cell.key.day
        ))
    })
}

/// The summary cell of one day's facts: its family and bytes.
pub fn encoded<S: Summary>(day: &[S::Of]) -> (i16, Vec<u8>) {
    (S::FAMILY, S::of(day).encode())
}

/// Lead times of deployed changes: the clamped spans and how many were negative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadSummary {
    /// Spans clamped at zero, in seconds.
    pub spans: Histogram,
    /// Spans that were negative (and counted as zero).
    pub negative: u64,
}

impl Summary for LeadSummary {
    type Of = LeadFact;
    const FAMILY: i16 = super::facts::family::LEAD_SUMMARY;

    fn of(facts: &[LeadFact]) -> Self {
        Self {
            spans: Histogram::of(facts.iter().map(|l| l.span.max(0))),
            negative: facts.iter().filter(|l| l.span < 0).count() as u64,
        }
    }
    fn merge(&mut self, other: &Self) {
        self.spans.merge(&other.spans);
        self.negative += other.negative;
    }
    fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        self.spans.put(&mut w);
        varint(&mut w, self.negative);
        w
    }
    fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Bytes(data);
        let s = Self {
            spans: Histogram::get(&mut r)?,
            negative: r.varint()?,
        };
        r.0.is_empty().then_some(s)
    }
}

/// The same summary over the lead times owned by teams in the client's context
/// ([`super::facts::family::LEAD_OWNED`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedLeadSummary(pub LeadSummary);

impl Summary for OwnedLeadSummary {
    type Of = super::facts::OwnedLeadFact;
    const FAMILY: i16 = super::facts::family::LEAD_OWNED_SUMMARY;

    fn of(facts: &[Self::Of]) -> Self {
        let leads: Vec<LeadFact> = facts.iter().map(|o| o.0.clone()).collect();
        Self(LeadSummary::of(&leads))
    }
    fn merge(&mut self, other: &Self) {
        self.0.merge(&other.0);
    }
    fn encode(&self) -> Vec<u8> {
        self.0.encode()
    }
    fn decode(data: &[u8]) -> Option<Self> {
        LeadSummary::decode(data).map(Self)
    }
}

/// Merged pull requests: counters and the distributions of the pull-request report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRequestSummary {
    /// Merged pull requests.
    pub merged: u64,
    /// Of which deployed.
    pub deployed: u64,
    /// Of which had a negative stage clamped.
    pub clamped: u64,
    /// Of which reviewed by someone other than the author.
    pub reviewed: u64,
    /// Reviewed ones with commits after the first review.
    pub with_rework: u64,
    /// Size classes (xs, s, m, l, xl).
    pub size: [u64; 5],
    /// Cycle-time stages: coding, pickup, review, deploy, total (seconds).
    pub stages: [Histogram; 5],
    /// Changed lines.
    pub lines: Histogram,
    /// Reviews per pull request.
    pub reviews: Histogram,
    /// Review comments per pull request.
    pub comments: Histogram,
    /// Time to first review of the reviewed ones (their pickup stage).
    pub first_review: Histogram,
    /// Commits after the first review, of the reviewed ones.
    pub rework: Histogram,
}

impl PullRequestSummary {
    fn histograms(&self) -> [&Histogram; 10] {
        let [a, b, c, d, e] = &self.stages;
        [
            a,
            b,
            c,
            d,
            e,
            &self.lines,
            &self.reviews,
            &self.comments,
            &self.first_review,
            &self.rework,
        ]
    }
    fn histograms_mut(&mut self) -> [&mut Histogram; 10] {
        let [a, b, c, d, e] = &mut self.stages;
        [
            a,
            b,
            c,
            d,
            e,
            &mut self.lines,
            &mut self.reviews,
            &mut self.comments,
            &mut self.first_review,
            &mut self.rework,
        ]
    }
}

/// The size class's position in [`PullRequestSummary::size`].
pub fn size_slot(lines: u64) -> usize {
    match SizeBucket::of_lines(lines) {
        SizeBucket::Xs => 0,
        SizeBucket::S => 1,
        SizeBucket::M => 2,
        SizeBucket::L => 3,
        SizeBucket::Xl => 4,
    }
}

impl Summary for PullRequestSummary {
    type Of = PullRequestFact;
    const FAMILY: i16 = super::facts::family::PULL_REQUEST_SUMMARY;

    fn of(facts: &[PullRequestFact]) -> Self {
        let count = |f: fn(&PullRequestFact) -> bool| facts.iter().filter(|p| f(p)).count() as u64;
        let hist = |f: fn(&PullRequestFact) -> i64| Histogram::of(facts.iter().map(f));
        let reviewed = || facts.iter().filter(|p| p.reviewed);
        let mut size = [0u64; 5];
        for p in facts {
            size[size_slot(p.lines)] += 1;
        }
        Self {
            merged: facts.len() as u64,
            deployed: count(|p| p.deployed),
            clamped: count(|p| p.clamped),
            reviewed: count(|p| p.reviewed),
            with_rework: count(|p| p.reviewed && p.rework_commits > 0),
            size,
            stages: [
                hist(|p| p.coding),
                hist(|p| p.pickup),
                hist(|p| p.review),
                hist(|p| p.deploy),
                hist(|p| p.total),
            ],
            lines: hist(|p| i64::try_from(p.lines).unwrap_or(i64::MAX)),
            reviews: hist(|p| i64::from(p.reviews)),
            comments: hist(|p| i64::from(p.comments)),
            first_review: Histogram::of(reviewed().map(|p| p.pickup)),
            rework: Histogram::of(reviewed().map(|p| i64::from(p.rework_commits))),
        }
    }
    fn merge(&mut self, other: &Self) {
        self.merged += other.merged;
        self.deployed += other.deployed;
        self.clamped += other.clamped;
        self.reviewed += other.reviewed;
        self.with_rework += other.with_rework;
        for (a, b) in self.size.iter_mut().zip(other.size) {
            *a += b;
        }
        for (a, b) in self.histograms_mut().into_iter().zip(other.histograms()) {
            a.merge(b);
        }
    }
    fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        for v in [
            self.merged,
            self.deployed,
            self.clamped,
            self.reviewed,
            self.with_rework,
        ]
        .into_iter()
        .chain(self.size)
        {
            varint(&mut w, v);
        }
        for h in self.histograms() {
            h.put(&mut w);
        }
        w
    }
    fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Bytes(data);
        let mut s = Self::default();
        for v in [
            &mut s.merged,
            &mut s.deployed,
            &mut s.clamped,
            &mut s.reviewed,
            &mut s.with_rework,
        ]
        .into_iter()
        .chain(s.size.iter_mut())
        {
            *v = r.varint()?;
        }
        for h in s.histograms_mut() {
            *h = Histogram::get(&mut r)?;
        }
        r.0.is_empty().then_some(s)
    }
}

/// Seconds per quarter hour: the resolution at which a day summary keeps when its deployments
/// happened, enough to split a UTC day at the local midnight of any zone whose offset is a whole
/// number of quarter hours (every zone's, since 1972).
pub const QUARTER: i64 = 900;

/// Where the local midnights (`midnights`, sorted Unix seconds: a daily `Placer`'s edges) split
/// UTC day `day`: `Some(None)` when none falls inside it (the day lies in one local day),
/// `Some(Some(q))` when one falls at quarter hour `q` (1..96), `None` when one falls off a quarter
/// hour or two fall inside it (the day's items must then be read one by one).
pub fn quarter_split(midnights: &[i64], day: i64) -> Option<Option<u32>> {
    let (start, end) = (day * DAY, (day + 1) * DAY);
    let first = midnights.partition_point(|&m| m <= start);
    let inside = &midnights[first..midnights.partition_point(|&m| m < end)];
    match inside {
        [] => Some(None),
        [m] if (m - start) % QUARTER == 0 => Some(Some(((m - start) / QUARTER) as u32)),
        _ => None,
    }
}

/// One UTC day's successful deployments: how many, and in which quarter hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentDay {
    /// The UTC day.
    pub day: i64,
    /// Deployments.
    pub count: u64,
    /// Bit `q` set when a deployment finished in quarter hour `q` (0..96) of the day.
    pub quarters: u128,
}

impl DeploymentDay {
    /// The deployments' local days, as `(daily bucket, deployments)`: each local day the day
    /// touches that had a deployment, with the day's count given to the later one beyond one each
    /// (every local day a summarised day touches lies in the same bucket of the report, so the
    /// bucket's count is exact). `None` when the midnights do not split the day on a quarter hour.
    pub fn local_days(&self, daily: &pulse_metrics::time::Placer) -> Option<Vec<(i64, u64)>> {
        let first = daily.bucket(self.day * DAY)? as i64;
        match quarter_split(daily.edges()?, self.day)? {
            None => Some(vec![(first, self.count)]),
            Some(q) => {
                let early = self.quarters & ((1u128 << q) - 1) != 0;
                let late = self.quarters >> q != 0;
                Some(match (early, late) {
                    (true, true) => vec![(first, 1), (first + 1, self.count - 1)],
                    (true, false) => vec![(first, self.count)],
                    _ => vec![(first + 1, self.count)],
                })
            }
        }
    }
}

/// Successful production deployments: per day, how many and when (quarter hours, for deployment
/// days in any zone); the ids of those charged with incidents and of rework; the incidents
/// charged; the recovery times of those charged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentSummary {
    /// The days with deployments, in order.
    pub days: Vec<DeploymentDay>,
    /// Deployments charged with at least one incident.
    pub failed: Vec<Uuid>,
    /// Incidents charged to them.
    pub incidents: u64,
    /// Recovery times of the charged deployments that recovered, clamped at zero (seconds).
    pub recovered: Histogram,
    /// Recovery times that were negative.
    pub negative: u64,
    /// Deployments that count as rework.
    pub rework: Vec<Uuid>,
    /// Merged pull requests standing in for deployments.
    pub fallback: u64,
}

impl DeploymentSummary {
    /// Deployments summarised.
    pub fn deployments(&self) -> u64 {
        self.days.iter().map(|d| d.count).sum()
    }
}

fn put_ids(w: &mut Vec<u8>, ids: &[Uuid]) {
    varint(w, ids.len() as u64);
    for id in ids {
        w.extend_from_slice(id.as_bytes());
    }
}

impl Bytes<'_> {
    fn ids(&mut self) -> Option<Vec<Uuid>> {
        let n = usize::try_from(self.varint()?).ok()?;
        if self.0.len() < n.checked_mul(16)? {
            return None;
        }
        let (head, rest) = self.0.split_at(n * 16);
        self.0 = rest;
        Some(
            head.chunks_exact(16)
                .map(|c| Uuid::from_bytes(c.try_into().expect("16 bytes")))
                .collect(),
        )
    }
    fn quarters(&mut self) -> Option<u128> {
        if self.0.len() < 12 {
            return None;
        }
        let (head, rest) = self.0.split_at(12);
        self.0 = rest;
        let mut bytes = [0u8; 16];
        bytes[..12].copy_from_slice(head);
        Some(u128::from_le_bytes(bytes))
    }
}

impl Summary for DeploymentSummary {
    type Of = DeploymentFact;
    const FAMILY: i16 = super::facts::family::DEPLOYMENT_SUMMARY;
    const LOCAL_DAYS: bool = true;

    fn of(facts: &[DeploymentFact]) -> Self {
        let mut days: Vec<DeploymentDay> = Vec::new();
        for d in facts {
            let day = d.at.div_euclid(DAY);
            let bit = 1u128 << (d.at.rem_euclid(DAY) / QUARTER);
            match days.iter_mut().find(|e| e.day == day) {
                Some(e) => {
                    e.count += 1;
                    e.quarters |= bit;
                }
                None => days.push(DeploymentDay {
                    day,
                    count: 1,
                    quarters: bit,
                }),
            }
        }
        days.sort_unstable_by_key(|d| d.day);
        let charged = || facts.iter().filter(|d| d.incidents > 0);
        let recovered: Vec<i64> = charged().filter_map(|d| d.recovered).collect();
        Self {
            days,
            failed: charged().map(|d| d.id).collect(),
            incidents: charged().map(|d| u64::from(d.incidents)).sum(),
            recovered: Histogram::of(recovered.iter().map(|&v| v.max(0))),
            negative: recovered.iter().filter(|&&v| v < 0).count() as u64,
            rework: facts.iter().filter(|d| d.rework).map(|d| d.id).collect(),
            fallback: facts.iter().filter(|d| d.fallback).count() as u64,
        }
    }
    fn merge(&mut self, other: &Self) {
        self.days.extend_from_slice(&other.days);
        self.days.sort_by_key(|d| d.day);
        self.failed.extend_from_slice(&other.failed);
        self.incidents += other.incidents;
        self.recovered.merge(&other.recovered);
        self.negative += other.negative;
        self.rework.extend_from_slice(&other.rework);
        self.fallback += other.fallback;
    }
    fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        varint(&mut w, self.days.len() as u64);
        let mut previous = 0;
        for d in &self.days {
            zigzag(&mut w, d.day - previous);
            previous = d.day;
            varint(&mut w, d.count);
            w.extend_from_slice(&d.quarters.to_le_bytes()[..12]);
        }
        put_ids(&mut w, &self.failed);
        varint(&mut w, self.incidents);
        self.recovered.put(&mut w);
        varint(&mut w, self.negative);
        put_ids(&mut w, &self.rework);
        varint(&mut w, self.fallback);
        w
    }
    fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Bytes(data);
        let n = usize::try_from(r.varint()?).ok()?;
        let mut days = Vec::with_capacity(n.min(1 << 12));
        let mut previous = 0;
        for _ in 0..n {
            previous += r.zigzag()?;
            let count = r.varint()?;
            let quarters = r.quarters()?;
            if count == 0 || quarters == 0 || quarters >> (DAY / QUARTER) != 0 {
                return None;
            }
            days.push(DeploymentDay {
                day: previous,
                count,
                quarters,
            });
        }
        let s = Self {
            days,
            failed: r.ids()?,
            incidents: r.varint()?,
            recovered: Histogram::get(&mut r)?,
            negative: r.varint()?,
            rework: r.ids()?,
            fallback: r.varint()?,
        };
        r.0.is_empty().then_some(s)
    }
}

/// Failed production deployments: how many, and their recovery times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedSummary {
    /// Failed deployments.
    pub failed: u64,
    /// Recovery times of those that recovered, clamped at zero (seconds).
    pub recovered: Histogram,
    /// Recovery times that were negative.
    pub negative: u64,
}

impl Summary for FailedSummary {
    type Of = FailedFact;
    const FAMILY: i16 = super::facts::family::FAILED_SUMMARY;

    fn of(facts: &[FailedFact]) -> Self {
        let recovered: Vec<i64> = facts.iter().filter_map(|f| f.recovered).collect();
        Self {
            failed: facts.len() as u64,
            recovered: Histogram::of(recovered.iter().map(|&v| v.max(0))),
            negative: recovered.iter().filter(|&&v| v < 0).count() as u64,
        }
    }
    fn merge(&mut self, other: &Self) {
        self.failed += other.failed;
        self.recovered.merge(&other.recovered);
        self.negative += other.negative;
    }
    fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        varint(&mut w, self.failed);
        self.recovered.put(&mut w);
        varint(&mut w, self.negative);
        w
    }
    fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Bytes(data);
        let s = Self {
            failed: r.varint()?,
            recovered: Histogram::get(&mut r)?,
            negative: r.varint()?,
        };
        r.0.is_empty().then_some(s)
    }
}

/// Incidents: how many, how many charged to no deployment, and their times to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentSummary {
    /// Incidents.
    pub incidents: u64,
    /// Of which charged to no deployment.
    pub unattributed: u64,
    /// Times to restore of the resolved ones, clamped at zero (seconds).
    pub restored: Histogram,
    /// Times to restore that were negative.
    pub negative: u64,
}

impl Summary for IncidentSummary {
    type Of = IncidentFact;
    const FAMILY: i16 = super::facts::family::INCIDENT_SUMMARY;

    fn of(facts: &[IncidentFact]) -> Self {
        let restored: Vec<i64> = facts.iter().filter_map(|i| i.restored).collect();
        Self {
            incidents: facts.len() as u64,
            unattributed: facts.iter().filter(|i| i.unattributed).count() as u64,
            restored: Histogram::of(restored.iter().map(|&v| v.max(0))),
            negative: restored.iter().filter(|&&v| v < 0).count() as u64,
        }
    }
    fn merge(&mut self, other: &Self) {
        self.incidents += other.incidents;
        self.unattributed += other.unattributed;
        self.restored.merge(&other.restored);
        self.negative += other.negative;
    }
    fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        varint(&mut w, self.incidents);
        varint(&mut w, self.unattributed);
        self.restored.put(&mut w);
        varint(&mut w, self.negative);
        w
    }
    fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Bytes(data);
        let s = Self {
            incidents: r.varint()?,
            unattributed: r.varint()?,
            restored: Histogram::get(&mut r)?,
            negative: r.varint()?,
        };
        r.0.is_empty().then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulse_metrics::stats::Distribution;

    /// A deterministic long-tailed sample (durations from seconds to months).
    fn sample(n: usize, seed: u64) -> Vec<i64> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let scale = 1i64 << (x % 24);
                (x >> 24) as i64 % scale
            })
            .collect()
    }

    #[test]
    fn buckets_cover_the_values_in_order() {
        let mut previous = None;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 1, u64::MAX >> 2]) {
            let ix = index(v);
            let (lo, hi) = bounds(ix);
            assert!(lo <= v && v < hi, "{v} in bucket {ix} = [{lo}, {hi})");
            if v >= EXACT_BELOW {
                // A bucket spans at most 1/64 of its lower bound.
                assert!((hi - lo) * 64 <= lo, "{v}: [{lo}, {hi})");
            } else {
                assert_eq!(hi - lo, 1);
            }
            if let Some(p) = previous {
                assert!(ix >= p);
            }
            previous = Some(ix);
        }
        assert!(key(-1) < key(0) && key(-200) < key(-1) && key(0) < key(1));
    }

    #[test]
    fn quantiles_are_within_the_stated_bound_and_the_rest_is_exact() {
        for (n, seed) in [(1, 3), (2, 5), (7, 11), (1000, 13), (25_000, 17)] {
            let values = sample(n, seed);
            let exact = Distribution::from_secs(&values).unwrap();
            // Split over "days" and merged back, as a range does.
            let mut merged = Histogram::default();
            for part in values.chunks(97) {
                merged.merge(&Histogram::of(part.iter().copied()));
            }
            assert_eq!(merged, Histogram::of(values.iter().copied()));
            let got = merged.distribution().unwrap();
            assert_eq!(got.count, exact.count);
            assert_eq!(
                (got.min, got.max, got.mean),
                (exact.min, exact.max, exact.mean)
            );
            for (g, e) in [
                (got.median, exact.median),
                (got.p75, exact.p75),
                (got.p90, exact.p90),
            ] {
                assert!(
                    (g - e).abs() <= e.abs() / 128.0 + 1e-9,
                    "n={n}: {g} vs exact {e}"
                );
            }
        }
    }

    #[test]
    fn small_whole_numbers_are_exact() {
        let values: Vec<i64> = (0..1000).map(|i| (i * 7919) % 100).collect();
        let exact = Distribution::from_secs(&values).unwrap();
        assert_eq!(Histogram::of(values).distribution(), Some(exact));
    }

    #[test]
    fn summaries_round_trip_and_refuse_garbage() {
        let facts: Vec<PullRequestFact> = sample(300, 23)
            .into_iter()
            .enumerate()
            .map(|(i, v)| PullRequestFact {
                at: i as i64,
                coding: v,
                pickup: v / 3,
                review: -(v % 5),
                deploy: v / 7,
                total: v + v / 3,
                deployed: i % 3 == 0,
                reviewed: i % 4 != 0,
                clamped: i % 5 == 0,
                lines: (v % 4000) as u64,
                reviews: (i % 4) as u32,
                comments: (i % 9) as u32,
                rework_commits: (i % 3) as u32,
            })
            .collect();
        let s = PullRequestSummary::of(&facts);
        assert_eq!(s.merged, 300);
        assert_eq!(PullRequestSummary::decode(&s.encode()), Some(s.clone()));
        let bytes = s.encode();
        assert_eq!(PullRequestSummary::decode(&bytes[..bytes.len() - 1]), None);
        let lead = LeadSummary::of(&[
            LeadFact { at: 0, span: -5 },
            LeadFact {
                at: 1,
                span: 86_400,
            },
        ]);
        assert_eq!(lead.negative, 1);
        assert_eq!(LeadSummary::decode(&lead.encode()), Some(lead));
        assert_eq!(LeadSummary::decode(&[0xff]), None);
    }

    fn deployment(at: i64, id: u128, incidents: u32, recovered: Option<i64>) -> DeploymentFact {
        DeploymentFact {
            at,
            id: Uuid::from_u128(id),
            incidents,
            recovered,
            rework: id.is_multiple_of(3),
            fallback: id == 2,
        }
    }

    #[test]
    fn deployment_summaries_keep_days_ids_and_recoveries() {
        let day = 20_000;
        let base = day * DAY;
        let one = DeploymentSummary::of(&[
            deployment(base + 10, 1, 0, None),
            deployment(base + 3 * QUARTER + 5, 2, 2, Some(-60)),
            deployment(base + DAY - 1, 3, 1, Some(3_600)),
        ]);
        assert_eq!(
            one.days,
            vec![DeploymentDay {
                day,
                count: 3,
                quarters: 1 | 1 << 3 | 1 << 95,
            }]
        );
        assert_eq!(one.failed, vec![Uuid::from_u128(2), Uuid::from_u128(3)]);
        assert_eq!((one.incidents, one.negative), (3, 1));
        assert_eq!(one.rework, vec![Uuid::from_u128(3)]);
        assert_eq!(one.fallback, 1);
        let mut two = DeploymentSummary::of(&[deployment(base + 2 * DAY, 6, 0, None)]);
        two.merge(&one);
        assert_eq!(two.deployments(), 4);
        assert_eq!(
            two.days.iter().map(|d| d.day).collect::<Vec<_>>(),
            vec![day, day + 2]
        );
        assert_eq!(two.recovered.distribution().unwrap().max, 3_600.0);
        let bytes = two.encode();
        assert_eq!(DeploymentSummary::decode(&bytes), Some(two));
        assert_eq!(DeploymentSummary::decode(&bytes[..bytes.len() - 1]), None);

        let failed = FailedSummary::of(&[
            FailedFact {
                at: base,
                recovered: Some(-1),
            },
            FailedFact {
                at: base + 1,
                recovered: None,
            },
        ]);
        assert_eq!((failed.failed, failed.negative), (2, 1));
        assert_eq!(FailedSummary::decode(&failed.encode()), Some(failed));
        let incidents = IncidentSummary::of(&[IncidentFact {
            at: base,
            restored: Some(7_200),
            unattributed: true,
        }]);
        assert_eq!((incidents.incidents, incidents.unattributed), (1, 1));
        assert_eq!(
            IncidentSummary::decode(&incidents.encode()),
            Some(incidents)
        );
    }

    #[test]
    fn days_split_at_local_midnights_on_quarter_hours() {
        let day = 20_000;
        let start = day * DAY;
        // No midnight inside the day, or one on its first instant: the day is one local day.
        assert_eq!(quarter_split(&[start - DAY, start + DAY], day), Some(None));
        assert_eq!(quarter_split(&[start, start + DAY], day), Some(None));
        // Kolkata (UTC+5:30): local midnight at 18:30 UTC, quarter hour 74.
        assert_eq!(quarter_split(&[start + 66_600], day), Some(Some(74)));
        // Off a quarter hour, or two midnights in one UTC day: read item by item.
        assert_eq!(quarter_split(&[start + 66_601], day), None);
        assert_eq!(quarter_split(&[start + 900, start + 85_500], day), None);
    }
}
