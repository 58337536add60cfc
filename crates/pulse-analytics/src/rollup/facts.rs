//! Per-item facts: what one deployment, change, incident, pull request, work item or sprint
//! contributes to the metrics, computed once by the formulas and packed into cells.
//!
//! Every fact carries the instant (Unix seconds) that places it in a range and a bucket; in a
//! cell it is stored as the offset from the cell's UTC midnight, so reading a cell gives back the
//! exact instant (to the second) and any time zone, range and bucket size is exact. Values are
//! the formulas' raw whole-second spans (negative spans are kept as such; the reports clamp and
//! count them as the formulas do). Encoding: fixed-size little-endian records.

use uuid::Uuid;

/// Seconds per day.
pub const DAY: i64 = 86_400;

/// Fact families (stored as `rollup_cells.family`).
pub mod family {
    /// A successful production deployment.
    pub const DEPLOYMENT: i16 = 1;
    /// A failed production deployment.
    pub const FAILED: i16 = 2;
    /// A change's lead time, at its deployment's finish (in the dimension's own context).
    pub const LEAD: i16 = 3;
    /// A change's lead time in the whole client's context, for the teams that own it (portfolio
    /// and executive roll-ups link changes once for the client).
    pub const LEAD_OWNED: i16 = 4;
    /// An incident, at its creation.
    pub const INCIDENT: i16 = 5;
    /// A merged pull request, at its merge.
    pub const PULL_REQUEST: i16 = 6;
    /// A change merged and not deployed, at its merge.
    pub const UNDEPLOYED: i16 = 7;
    /// A completed work item, at its completion.
    pub const WORK: i16 = 8;
    /// A sprint, at its close.
    pub const SPRINT: i16 = 9;
    /// One day's [`LEAD`] facts summarised ([`super::summary::LeadSummary`]).
    pub const LEAD_SUMMARY: i16 = 10;
    /// One day's [`LEAD_OWNED`] facts summarised.
    pub const LEAD_OWNED_SUMMARY: i16 = 11;
    /// One day's [`PULL_REQUEST`] facts summarised ([`super::summary::PullRequestSummary`]).
    pub const PULL_REQUEST_SUMMARY: i16 = 12;
    /// One day's [`DEPLOYMENT`] facts summarised ([`super::summary::DeploymentSummary`]).
    pub const DEPLOYMENT_SUMMARY: i16 = 13;
    /// One day's [`FAILED`] facts summarised ([`super::summary::FailedSummary`]).
    pub const FAILED_SUMMARY: i16 = 14;
    /// One day's [`INCIDENT`] facts summarised ([`super::summary::IncidentSummary`]).
    pub const INCIDENT_SUMMARY: i16 = 15;
    /// The summary families of one day (level 0). Each is below 16, the stride of
    /// [`level`].
    pub const SUMMARIES: [i16; 6] = [
        LEAD_SUMMARY,
        LEAD_OWNED_SUMMARY,
        PULL_REQUEST_SUMMARY,
        DEPLOYMENT_SUMMARY,
        FAILED_SUMMARY,
        INCIDENT_SUMMARY,
    ];

    /// Levels of summary blocks: a block of level `k` covers the `2^k` days from a day that is a
    /// multiple of `2^k`, so any run of days is covered by a few blocks.
    pub const LEVELS: u32 = 8;

    /// The family of the summary blocks of level `level` of a day's summary family (`base`).
    pub const fn level(base: i16, level: u32) -> i16 {
        base + 16 * level as i16
    }

    /// The level of a summary block family of a day summary family (`base`).
    pub const fn level_of(base: i16, family: i16) -> i16 {
        (family - base) / 16
    }

    /// Every summary family of these day summaries, all levels.
    pub fn all_levels(bases: &[i16]) -> Vec<i16> {
        (0..LEVELS)
            .flat_map(|l| bases.iter().map(move |&b| level(b, l)))
            .collect()
    }
}

/// The UTC day of an instant (floored).
pub fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY)
}

/// A packed fact.
pub trait Fact: Sized {
    /// Its family.
    const FAMILY: i16;
    /// Bytes per record.
    const SIZE: usize;
    /// The instant that places it (Unix seconds).
    fn at(&self) -> i64;
    /// The cell's second counter contribution (`extra`).
    fn extra(&self) -> i64 {
        0
    }
    /// Appends the record; `offset` is `at` minus the cell's midnight.
    fn put(&self, out: &mut Writer);
    /// Reads a record back; `base` is the cell's midnight.
    fn get(r: &mut Reader<'_>, base: i64) -> Self;
    /// The summary cell of one day's facts (family and bytes), for the families that have one.
    fn summary(_day: &[Self]) -> Option<(i16, Vec<u8>)> {
        None
    }
}

/// Appends little-endian values.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
    base: i64,
}

impl Writer {
    fn offset(&mut self, at: i64) {
        let off = u32::try_from(at - self.base).expect("fact within its cell's day");
        self.buf.extend_from_slice(&off.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn uuid(&mut self, v: &Uuid) {
        self.buf.extend_from_slice(v.as_bytes());
    }
}

/// Reads little-endian values.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.buf.split_at(N);
        self.buf = rest;
        head.try_into().expect("split at N")
    }
    fn offset(&mut self, base: i64) -> i64 {
        base + i64::from(u32::from_le_bytes(self.take()))
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn uuid(&mut self) -> Uuid {
        Uuid::from_bytes(self.take())
    }
}

/// Packs facts of one cell (all on UTC day `day`).
pub fn encode<F: Fact>(day: i64, facts: &[F]) -> Vec<u8> {
    let mut w = Writer {
        buf: Vec::with_capacity(facts.len() * F::SIZE),
        base: day * DAY,
    };
    for f in facts {
        f.put(&mut w);
    }
    w.buf
}

/// Unpacks a cell's facts, appending them to `out`. A cell whose length is not a whole number of
/// records is corrupt and refused.
pub fn decode<F: Fact>(day: i64, data: &[u8], out: &mut Vec<F>) -> pulse_core::Result<()> {
    if !data.len().is_multiple_of(F::SIZE) {
        return Err(pulse_core::Error::internal(anyhow::anyhow!(
            "rollup cell of family {} has {} bytes, not a multiple of {}",
            F::FAMILY,
            data.len(),
            F::SIZE
        )));
    }
    let mut r = Reader { buf: data };
    out.reserve(data.len() / F::SIZE);
    while !r.buf.is_empty() {
        out.push(F::get(&mut r, day * DAY));
    }
    Ok(())
}

fn flag(bits: u8, n: u8) -> bool {
    bits & (1 << n) != 0
}

fn opt(present: bool, v: i64) -> Option<i64> {
    present.then_some(v)
}

/// A successful production deployment, at its finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFact {
    /// Finish.
    pub at: i64,
    /// Deployment id.
    pub id: Uuid,
    /// Incidents charged to it.
    pub incidents: u32,
    /// When it has incidents: seconds from its finish to the last resolution, once all are
    /// resolved (raw, may be negative).
    pub recovered: Option<i64>,
    /// It counts as rework (it fixed an incident).
    pub rework: bool,
    /// A merged pull request standing in for a deployment (the rules' last resort).
    pub fallback: bool,
}

impl Fact for DeploymentFact {
    const FAMILY: i16 = family::DEPLOYMENT;
    const SIZE: usize = 4 + 16 + 4 + 1 + 8;
    fn at(&self) -> i64 {
        self.at
    }
    fn put(&self, w: &mut Writer) {
        w.offset(self.at);
        w.uuid(&self.id);
        w.u32(self.incidents);
        w.u8(u8::from(self.recovered.is_some())
            | u8::from(self.rework) << 1
            | u8::from(self.fallback) << 2);
        w.i64(self.recovered.unwrap_or(0));
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        let at = r.offset(base);
        let id = r.uuid();
        let incidents = r.u32();
        let bits = r.u8();
        let v = r.i64();
        Self {
            at,
            id,
            incidents,
            recovered: opt(flag(bits, 0), v),
            rework: flag(bits, 1),
            fallback: flag(bits, 2),
        }
    }
    fn summary(day: &[Self]) -> Option<(i16, Vec<u8>)> {
        Some(super::summary::encoded::<super::summary::DeploymentSummary>(day))
    }
}

/// A failed production deployment, at its failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedFact {
    /// Failure instant.
    pub at: i64,
    /// Seconds to its recovery, when it recovered (raw).
    pub recovered: Option<i64>,
}

impl Fact for FailedFact {
    const FAMILY: i16 = family::FAILED;
    const SIZE: usize = 4 + 1 + 8;
    fn at(&self) -> i64 {
        self.at
    }
    fn put(&self, w: &mut Writer) {
        w.offset(self.at);
        w.u8(u8::from(self.recovered.is_some()));
        w.i64(self.recovered.unwrap_or(0));
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        let at = r.offset(base);
        let bits = r.u8();
        let v = r.i64();
        Self {
            at,
            recovered: opt(flag(bits, 0), v),
        }
    }
    fn summary(day: &[Self]) -> Option<(i16, Vec<u8>)> {
        Some(super::summary::encoded::<super::summary::FailedSummary>(
            day,
        ))
    }
}

/// A deployed change's lead time, at its deployment's finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadFact {
    /// The deployment's finish.
    pub at: i64,
    /// Seconds from the first commit to the finish (raw).
    pub span: i64,
}

impl Fact for LeadFact {
    const FAMILY: i16 = family::LEAD;
    const SIZE: usize = 4 + 8;
    fn at(&self) -> i64 {
        self.at
    }
    fn put(&self, w: &mut Writer) {
        w.offset(self.at);
        w.i64(self.span);
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        Self {
            at: r.offset(base),
            span: r.i64(),
        }
    }
    fn summary(day: &[Self]) -> Option<(i16, Vec<u8>)> {
        Some(super::summary::encoded::<super::summary::LeadSummary>(day))
    }
}

/// [`LeadFact`] in the client's context, stored for the teams owning the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedLeadFact(pub LeadFact);

impl Fact for OwnedLeadFact {
    const FAMILY: i16 = family::LEAD_OWNED;
    const SIZE: usize = LeadFact::SIZE;
    fn at(&self) -> i64 {
        self.0.at
    }
    fn put(&self, w: &mut Writer) {
        self.0.put(w)
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        Self(LeadFact::get(r, base))
    }
    fn summary(day: &[Self]) -> Option<(i16, Vec<u8>)> {
        Some(super::summary::encoded::<super::summary::OwnedLeadSummary>(
            day,
        ))
    }
}

/// An incident, at its creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFact {
    /// Creation.
    pub at: i64,
    /// Seconds to its resolution, when resolved (raw).
    pub restored: Option<i64>,
    /// Charged to no deployment.
    pub unattributed: bool,
}

impl Fact for IncidentFact {
    const FAMILY: i16 = family::INCIDENT;
    const SIZE: usize = 4 + 1 + 8;
    fn at(&self) -> i64 {
        self.at
    }
    fn put(&self, w: &mut Writer) {
        w.offset(self.at);
        w.u8(u8::from(self.restored.is_some()) | u8::from(self.unattributed) << 1);
        w.i64(self.restored.unwrap_or(0));
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        let at = r.offset(base);
        let bits = r.u8();
        let v = r.i64();
        Self {
            at,
            restored: opt(flag(bits, 0), v),
            unattributed: flag(bits, 1),
        }
    }
    fn summary(day: &[Self]) -> Option<(i16, Vec<u8>)> {
        Some(super::summary::encoded::<super::summary::IncidentSummary>(
            day,
        ))
    }
}

/// A merged pull request, at its merge: its cycle-time breakdown and review figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestFact {
    /// Merge.
    pub at: i64,
    /// Coding stage, seconds.
    pub coding: i64,
    /// Pickup stage, seconds.
    pub pickup: i64,
    /// Review stage, seconds.
    pub review: i64,
    /// Deploy stage, seconds.
    pub deploy: i64,
    /// Total, seconds.
    pub total: i64,
    /// A production deployment is known.
    pub deployed: bool,
    /// Reviewed by someone other than the author.
    pub reviewed: bool,
    /// A raw time was out of order and clamped.
    pub clamped: bool,
    /// Changed lines.
    pub lines: u64,
    /// Reviews by others.
    pub reviews: u32,
    /// Comments.
    pub comments: u32,
    /// Commits after the first review.
    pub rework_commits: u32,
}

impl Fact for PullRequestFact {
    const FAMILY: i16 = family::PULL_REQUEST;
    const SIZE: usize = 4 + 5 * 8 + 1 + 8 + 3 * 4;
    fn at(&self) -> i64 {
        self.at
    }
    fn put(&self, w: &mut Writer) {
        w.offset(self.at);
        for v in [
            self.coding,
            self.pickup,
            self.review,
            self.deploy,
            self.total,
        ] {
            w.i64(v);
        }
        w.u8(u8::from(self.deployed) | u8::from(self.reviewed) << 1 | u8::from(self.clamped) << 2);
        w.i64(self.lines as i64);
        w.u32(self.reviews);
        w.u32(self.comments);
        w.u32(self.rework_commits);
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        let at = r.offset(base);
        let (coding, pickup, review, deploy, total) = (r.i64(), r.i64(), r.i64(), r.i64(), r.i64());
        let bits = r.u8();
        Self {
            at,
            coding,
            pickup,
            review,
            deploy,
            total,
            deployed: flag(bits, 0),
            reviewed: flag(bits, 1),
            clamped: flag(bits, 2),
            lines: r.i64() as u64,
            reviews: r.u32(),
            comments: r.u32(),
            rework_commits: r.u32(),
        }
    }
    fn summary(day: &[Self]) -> Option<(i16, Vec<u8>)> {
        Some(super::summary::encoded::<super::summary::PullRequestSummary>(day))
    }
}

/// A change merged and never deployed, at its merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeployedFact {
    /// Merge.
    pub at: i64,
    /// Pull request id.
    pub id: Uuid,
}

impl Fact for UndeployedFact {
    const FAMILY: i16 = family::UNDEPLOYED;
    const SIZE: usize = 4 + 16;
    fn at(&self) -> i64 {
        self.at
    }
    fn put(&self, w: &mut Writer) {
        w.offset(self.at);
        w.uuid(&self.id);
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        Self {
            at: r.offset(base),
            id: r.uuid(),
        }
    }
}

/// A work item, at its completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkFact {
    /// Completion.
    pub at: i64,
    /// Creation (a range counts an item only when it was created before the range's end).
    pub created: i64,
}

impl Fact for WorkFact {
    const FAMILY: i16 = family::WORK;
    const SIZE: usize = 4 + 8;
    fn at(&self) -> i64 {
        self.at
    }
    /// Items created after they were completed (bad data), which a range may leave out.
    fn extra(&self) -> i64 {
        i64::from(self.created > self.at)
    }
    fn put(&self, w: &mut Writer) {
        w.offset(self.at);
        w.i64(self.created);
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        Self {
            at: r.offset(base),
            created: r.i64(),
        }
    }
}

/// A sprint, at its close: committed issues and how many of them were completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SprintFact {
    /// Close.
    pub at: i64,
    /// Start (a range counts a sprint only when it started before the range's end).
    pub start: i64,
    /// Committed issues.
    pub committed: u32,
    /// Of those, completed in the sprint.
    pub completed: u32,
}

impl Fact for SprintFact {
    const FAMILY: i16 = family::SPRINT;
    const SIZE: usize = 4 + 8 + 4 + 4;
    fn at(&self) -> i64 {
        self.at
    }
    fn put(&self, w: &mut Writer) {
        w.offset(self.at);
        w.i64(self.start);
        w.u32(self.committed);
        w.u32(self.completed);
    }
    fn get(r: &mut Reader<'_>, base: i64) -> Self {
        Self {
            at: r.offset(base),
            start: r.i64(),
            committed: r.u32(),
            completed: r.u32(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<F: Fact + Clone + PartialEq + std::fmt::Debug>(facts: Vec<F>) {
        let day = day_of(facts[0].at());
        let data = encode(day, &facts);
        assert_eq!(data.len(), facts.len() * F::SIZE);
        let mut back = Vec::new();
        decode::<F>(day, &data, &mut back).unwrap();
        assert_eq!(back, facts);
        assert!(decode::<F>(day, &data[..data.len() - 1], &mut Vec::new()).is_err());
    }

    #[test]
    fn facts_survive_packing() {
        let at = 1_709_546_400 + 3_599; // 2024-03-04 10:59:59 UTC
        round_trip(vec![
            DeploymentFact {
                at,
                id: Uuid::from_u128(7),
                incidents: 2,
                recovered: Some(-5),
                rework: true,
                fallback: false,
            },
            DeploymentFact {
                at: at + 1,
                id: Uuid::from_u128(8),
                incidents: 0,
                recovered: None,
                rework: false,
                fallback: true,
            },
        ]);
        round_trip(vec![FailedFact {
            at,
            recovered: Some(60),
        }]);
        round_trip(vec![LeadFact { at, span: -3 }]);
        round_trip(vec![OwnedLeadFact(LeadFact { at, span: 9 })]);
        round_trip(vec![IncidentFact {
            at,
            restored: None,
            unattributed: true,
        }]);
        round_trip(vec![PullRequestFact {
            at,
            coding: 1,
            pickup: 2,
            review: 3,
            deploy: 4,
            total: 10,
            deployed: true,
            reviewed: false,
            clamped: true,
            lines: 1 << 40,
            reviews: 3,
            comments: 4,
            rework_commits: 5,
        }]);
        round_trip(vec![UndeployedFact {
            at,
            id: Uuid::from_u128(u128::MAX),
        }]);
        round_trip(vec![WorkFact {
            at,
            created: at + 10,
        }]);
        round_trip(vec![SprintFact {
            at,
            start: at - 86_400 * 14,
            committed: 9,
            completed: 7,
        }]);
    }

    #[test]
    fn days_floor_before_1970() {
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY), 1);
        round_trip(vec![LeadFact { at: -1, span: 1 }]);
    }
}
