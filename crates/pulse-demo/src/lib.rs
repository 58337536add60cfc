//! A deterministic generator of realistic engineering data, as `pulse_ingest` import records.
//!
//! [`generate`] returns an iterator of [`Record`]s for one client: an org team with groups and
//! teams under it, people with GitHub and Jira accounts (matched by e-mail), repositories and
//! projects, pull requests with commits, reviews and comments, deployments (some failed, a few
//! spanning several repositories) with incidents after some of them, Jira boards, sprints every
//! two weeks, and issues with their status history. The same [`Options`] (seed, size, anchor date)
//! always give the same records in the same order, so [`write_jsonl`] writes byte-identical files.
//!
//! Records are produced day by day, so memory stays bounded by one day's records plus the pull
//! requests merged but not yet deployed, whatever the size (the large size has a million pull
//! requests and a million issues).
//!
//! Everything happens in the `days` before the anchor date (00:00 UTC of that date is the end of
//! the data): events that would fall later are left out (a pull request merged later is still
//! open, an incident resolved later is still open).

mod names;

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use pulse_ingest::record::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 42;

/// How much data to generate: counts of the three volume drivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Pull requests (revert pull requests opened for incidents come on top, about 1 %).
    pub prs: u64,
    /// Deployments (production and staging).
    pub deployments: u64,
    /// Jira issues (incident issues come on top).
    pub issues: u64,
}

/// A named size, or custom counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// About six months: 3 teams, 6 repositories, 1,500 pull requests, 300 deployments, 1,500
    /// issues. What `pulse demo` loads.
    Small,
    /// Two years: 1,000,000 pull requests, 200,000 deployments, 1,000,000 issues. For benchmarks.
    Large,
    /// Any counts; the organisation and time span scale with the pull requests.
    Custom(Counts),
}

impl Size {
    /// The counts of this size.
    pub fn counts(self) -> Counts {
        match self {
            Size::Small => Counts {
                prs: 1_500,
                deployments: 300,
                issues: 1_500,
            },
            Size::Large => Counts {
                prs: 1_000_000,
                deployments: 200_000,
                issues: 1_000_000,
            },
            Size::Custom(c) => c,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How much.
    pub size: Size,
    /// Seed of the random generator.
    pub seed: u64,
    /// The data ends at 00:00 UTC of this date (pass today for a demo that looks current).
    pub anchor: NaiveDate,
}

impl Options {
    /// The instant the data ends at.
    pub fn end(&self) -> DateTime<Utc> {
        midnight(self.anchor)
    }

    /// The instant the data starts at.
    pub fn start(&self) -> DateTime<Utc> {
        midnight(self.anchor - Duration::days(Plan::new(self.size.counts()).days))
    }
}

/// The shape derived from the counts.
#[derive(Debug, Clone, Copy)]
struct Plan {
    counts: Counts,
    days: i64,
    teams: usize,
    repos: usize,
    people_per_team: usize,
}

impl Plan {
    fn new(counts: Counts) -> Self {
        let days = if counts.prs <= 20_000 { 182 } else { 730 };
        let repos = ((counts.prs / 250) as usize).clamp(6, 200);
        let teams = (repos / 2).clamp(3, 60);
        let people_per_team = if counts.prs <= 20_000 { 6 } else { 8 };
        Self {
            counts,
            days,
            teams,
            repos,
            people_per_team,
        }
    }
}

/// Records per type (`pull_request`, ...).
pub type Stats = BTreeMap<&'static str, u64>;

/// Writes the records of `options` as JSON Lines and returns how many of each type it wrote.
pub fn write_jsonl<W: Write>(options: &Options, mut out: W) -> std::io::Result<Stats> {
    let mut stats = Stats::new();
    for record in generate(options) {
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
        *stats.entry(record.kind().as_str()).or_default() += 1;
    }
    out.flush()?;
    Ok(stats)
}

/// The records of `options`, generated lazily.
pub fn generate(options: &Options) -> Generator {
    Generator::new(options)
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
}

fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp(t)
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

struct PersonInfo {
    id: String,
    name: String,
    email: String,
    login: String,
    jira: String,
    jira_listed: bool,
}

struct TeamInfo {
    id: String,
    name: String,
    key: String,
    parent: Option<usize>,
    members: Vec<usize>,
    repos: Vec<usize>,
    working: bool,
    epics: Vec<String>,
    parents: Vec<String>,
    next_key: u64,
}

struct Pending {
    id: String,
    title: String,
    merged_at: DateTime<Utc>,
    sha: String,
}

struct RepoInfo {
    id: String,
    full_name: String,
    team: usize,
    next_number: u64,
    pending: Vec<Pending>,
}

#[derive(Clone, Copy)]
struct SprintSlot {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    complete: Option<DateTime<Utc>>,
    state: SprintState,
}

impl SprintSlot {
    fn close(&self) -> DateTime<Utc> {
        self.complete.unwrap_or(self.end)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Org,
    Code,
    Work,
    Done,
}

/// The lazy record stream; see [`generate`].
pub struct Generator {
    rng: ChaCha8Rng,
    plan: Plan,
    start_day: NaiveDate,
    end: DateTime<Utc>,
    people: Vec<PersonInfo>,
    teams: Vec<TeamInfo>,
    repos: Vec<RepoInfo>,
    repo_weights: Vec<f64>,
    sprints: Vec<SprintSlot>,
    pr_per_day: Vec<u32>,
    deploys_per_day: Vec<u32>,
    issues_per_day: Vec<u32>,
    phase: Phase,
    day: usize,
    buf: VecDeque<Record>,
    next_deploy: u64,
    next_incident: u64,
    next_issue: u64,
    next_ops: u64,
    retry: Option<(usize, DateTime<Utc>)>,
}

/// A standard normal sample (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal duration in seconds with the given median and shape, at least a minute and at
/// most `max` seconds.
fn lognormal(rng: &mut ChaCha8Rng, median: i64, sigma: f64, max: i64) -> i64 {
    let v = (median as f64) * (sigma * normal(rng)).exp();
    (v as i64).clamp(MIN, max)
}

/// The daily activity weight of a weekday for people (PRs, issues) and for deployments.
fn weekday_weight(d: NaiveDate, weekend: f64) -> f64 {
    match d.weekday() {
        Weekday::Sat | Weekday::Sun => weekend,
        Weekday::Fri => 0.8,
        _ => 1.0,
    }
}

/// Splits `total` over days in proportion to `weights`, exactly.
fn allocate(total: u64, weights: &[f64]) -> Vec<u32> {
    let sum: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(weights.len());
    let mut cum = 0.0;
    let mut given = 0u64;
    for (i, w) in weights.iter().enumerate() {
        cum += w;
        let upto = if i + 1 == weights.len() {
            total
        } else {
            ((cum / sum) * total as f64).round() as u64
        };
        out.push((upto - given) as u32);
        given = upto;
    }
    out
}

fn hex(rng: &mut ChaCha8Rng, bytes: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b: u8 = rng.gen();
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

impl Generator {
    fn new(options: &Options) -> Self {
        let plan = Plan::new(options.size.counts());
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let end = options.end();
        let start_day = options.anchor - Duration::days(plan.days);
        let days: Vec<NaiveDate> = (0..plan.days)
            .map(|i| start_day + Duration::days(i))
            .collect();
        let noise: Vec<f64> = days.iter().map(|_| 0.75 + 0.5 * rng.gen::<f64>()).collect();
        let people_w: Vec<f64> = days
            .iter()
            .zip(&noise)
            .map(|(d, n)| weekday_weight(*d, 0.05) * n)
            .collect();
        let deploy_w: Vec<f64> = days
            .iter()
            .zip(&noise)
            .map(|(d, n)| weekday_weight(*d, 0.03) * n)
            .collect();
        let mut g = Generator {
            pr_per_day: allocate(plan.counts.prs, &people_w),
            deploys_per_day: allocate(plan.counts.deployments, &deploy_w),
            issues_per_day: allocate(plan.counts.issues, &people_w),
            rng,
            plan,
            start_day,
            end,
            people: Vec::new(),
            teams: Vec::new(),
            repos: Vec::new(),
            repo_weights: Vec::new(),
            sprints: Vec::new(),
            phase: Phase::Org,
            day: 0,
            buf: VecDeque::new(),
            next_deploy: 1,
            next_incident: 1,
            next_issue: 10_000,
            next_ops: 1,
            retry: None,
        };
        g.build_world();
        g
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen::<f64>() < p
    }

    fn lognormal(&mut self, median: i64, sigma: f64, max: i64) -> i64 {
        lognormal(&mut self.rng, median, sigma, max)
    }

    /// A time of day on `day`: mostly office hours, peaking early afternoon.
    fn work_time(&mut self, day: NaiveDate) -> DateTime<Utc> {
        let u = (self.rng.gen::<f64>() + self.rng.gen::<f64>()) / 2.0;
        let minute = 7 * 60 + 30 + (u * 660.0) as i64;
        midnight(day) + secs(minute * MIN + self.rng.gen_range(0..60))
    }

    /// Moves `t` out of the night and the weekend most of the time, as people do.
    fn working(&mut self, mut t: DateTime<Utc>) -> DateTime<Utc> {
        use chrono::Timelike;
        if (t.hour() >= 20 || t.hour() < 7) && self.chance(0.7) {
            let day = if t.hour() >= 20 {
                t.date_naive() + Duration::days(1)
            } else {
                t.date_naive()
            };
            t = midnight(day) + secs(8 * HOUR + self.rng.gen_range(0..2 * HOUR));
        }
        if matches!(t.weekday(), Weekday::Sat | Weekday::Sun) && self.chance(0.9) {
            let ahead = if t.weekday() == Weekday::Sat { 2 } else { 1 };
            t = midnight(t.date_naive() + Duration::days(ahead))
                + secs(8 * HOUR + self.rng.gen_range(0..3 * HOUR));
        }
        t
    }

    fn build_world(&mut self) {
        let plan = self.plan;
        // Teams: the org, then groups, then the working teams under the groups.
        let groups = if plan.teams <= 3 {
            1
        } else {
            (plan.teams / 8).clamp(2, 6)
        };
        self.teams.push(TeamInfo::new(
            "engineering",
            "Engineering",
            "ENG",
            None,
            false,
        ));
        for g in 0..groups {
            let (id, name) = names::group(g);
            self.teams
                .push(TeamInfo::new(&id, &name, "", Some(0), false));
        }
        for t in 0..plan.teams {
            let (id, name, key) = names::team(t);
            // Small: Payments and Growth in the Product group, Platform directly under the org.
            let parent = if plan.teams <= 3 {
                if t < 2 {
                    1
                } else {
                    0
                }
            } else {
                1 + t % groups
            };
            self.teams
                .push(TeamInfo::new(&id, &name, &key, Some(parent), true));
        }
        // People: a lead for the org and for every group, then each working team's members.
        let mut person = 0usize;
        for t in 0..self.teams.len() {
            let n = if self.teams[t].working {
                plan.people_per_team
            } else {
                1
            };
            for _ in 0..n {
                let (first, last) = names::person(person);
                let login = format!("{}-{}", first.to_lowercase(), last.to_lowercase());
                let email = format!(
                    "{}.{}@acme.example",
                    first.to_lowercase(),
                    last.to_lowercase()
                );
                let jira = hex(&mut self.rng, 12);
                let jira_listed = self.chance(0.7);
                self.people.push(PersonInfo {
                    id: format!("person-{:04}", person + 1),
                    name: format!("{first} {last}"),
                    email,
                    login,
                    jira,
                    jira_listed,
                });
                self.teams[t].members.push(person);
                person += 1;
            }
        }
        // Repositories, round robin over the working teams; some are busier than others.
        let working: Vec<usize> = (0..self.teams.len())
            .filter(|t| self.teams[*t].working)
            .collect();
        for r in 0..plan.repos {
            let team = working[r % working.len()];
            let name = names::repo(r);
            self.teams[team].repos.push(r);
            self.repos.push(RepoInfo {
                full_name: format!("acme/{name}"),
                id: name,
                team,
                next_number: 1,
                pending: Vec::new(),
            });
            let w = (0.6 * normal(&mut self.rng)).exp();
            self.repo_weights.push(w);
        }
        // Sprints: every two weeks from the first Monday, the same cadence on every board.
        let mut day = self.start_day;
        while day.weekday() != Weekday::Mon {
            day += Duration::days(1);
        }
        loop {
            let start = midnight(day) + secs(9 * HOUR);
            let end = midnight(day + Duration::days(11)) + secs(17 * HOUR);
            if start >= self.end {
                self.sprints.push(SprintSlot {
                    start,
                    end,
                    complete: None,
                    state: SprintState::Future,
                });
                break;
            }
            let (complete, state) = if end <= self.end {
                let early = self.rng.gen_range(0..3 * HOUR);
                (Some(end - secs(early)), SprintState::Closed)
            } else {
                (None, SprintState::Active)
            };
            self.sprints.push(SprintSlot {
                start,
                end,
                complete,
                state,
            });
            day += Duration::days(14);
        }
    }

    fn org_records(&mut self) {
        for t in &self.teams {
            self.buf.push_back(Record::Team(Team {
                id: t.id.clone(),
                source: None,
                name: t.name.clone(),
                parent: t.parent.map(|p| self.teams[p].id.clone()),
                members: t
                    .members
                    .iter()
                    .map(|m| self.people[*m].id.clone())
                    .collect(),
            }));
        }
        for p in &self.people {
            let mut accounts = vec![Account {
                provider: Provider::Github,
                login: p.login.clone(),
            }];
            if p.jira_listed {
                accounts.push(Account {
                    provider: Provider::Jira,
                    login: p.jira.clone(),
                });
            }
            self.buf.push_back(Record::Person(Person {
                id: p.id.clone(),
                source: None,
                name: p.name.clone(),
                email: Some(p.email.clone()),
                accounts,
            }));
        }
        for r in &self.repos {
            self.buf.push_back(Record::Repository(Repository {
                id: r.id.clone(),
                source: None,
                full_name: r.full_name.clone(),
                default_branch: Some("main".into()),
                url: Some(format!("https://github.com/{}", r.full_name)),
            }));
        }
        let working: Vec<usize> = (0..self.teams.len())
            .filter(|t| self.teams[*t].working)
            .collect();
        for &t in &working {
            let team = &self.teams[t];
            self.buf.push_back(Record::Board(Board {
                id: format!("{}-board", team.key.to_lowercase()),
                source: None,
                name: format!("{} board", team.key),
                kind: Some(BoardKind::Scrum),
                project_key: Some(team.key.clone()),
            }));
        }
        self.buf.push_back(Record::Board(Board {
            id: "ops-board".into(),
            source: None,
            name: "OPS board".into(),
            kind: Some(BoardKind::Kanban),
            project_key: Some("OPS".into()),
        }));
        // One project per working team; the last one is shared with the previous team and also
        // covers the OPS incident project (a project owned by two teams counts once above them).
        for (i, &t) in working.iter().enumerate() {
            let team = &self.teams[t];
            let mut teams = vec![team.id.clone()];
            let mut jira = vec![team.key.clone()];
            let mut boards = vec![format!("{}-board", team.key.to_lowercase())];
            if i + 1 == working.len() {
                if i > 0 {
                    teams.push(self.teams[working[i - 1]].id.clone());
                }
                jira.push("OPS".into());
                boards.push("ops-board".into());
            }
            self.buf.push_back(Record::Project(Project {
                id: format!("project-{}", team.id),
                source: None,
                name: names::project(i),
                teams,
                repositories: team
                    .repos
                    .iter()
                    .map(|r| self.repos[*r].id.clone())
                    .collect(),
                jira_projects: jira,
                boards,
            }));
        }
        for t in working {
            let key = self.teams[t].key.clone();
            for (k, s) in self.sprints.iter().enumerate() {
                self.buf.push_back(Record::Sprint(Sprint {
                    id: sprint_id(&key, k),
                    source: None,
                    board: Some(format!("{}-board", key.to_lowercase())),
                    name: format!("{key} Sprint {}", k + 1),
                    state: s.state,
                    start_at: Some(ts(s.start)),
                    end_at: Some(ts(s.end)),
                    complete_at: s.complete.map(ts),
                }));
            }
        }
    }

    fn pick_repo(&mut self) -> usize {
        let total: f64 = self.repo_weights.iter().sum();
        let mut x = self.rng.gen::<f64>() * total;
        for (i, w) in self.repo_weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        self.repo_weights.len() - 1
    }

    fn member_of(&mut self, team: usize) -> usize {
        let members = &self.teams[team].members;
        members[self.rng.gen_range(0..members.len())]
    }

    /// A reviewer: another member of the team, now and then someone from elsewhere.
    fn reviewer_for(&mut self, team: usize, author: Option<usize>) -> usize {
        loop {
            let p = if self.chance(0.85) {
                self.member_of(team)
            } else {
                self.rng.gen_range(0..self.people.len())
            };
            if Some(p) != author {
                return p;
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Code: pull requests, commits, reviews, deployments, incidents.
    // ---------------------------------------------------------------------------------------

    fn code_day(&mut self, index: usize) {
        let day = self.start_day + Duration::days(index as i64);
        let mut times: Vec<DateTime<Utc>> = (0..self.pr_per_day[index])
            .map(|_| self.work_time(day))
            .collect();
        times.sort();
        for created in times {
            let repo = self.pick_repo();
            self.pull_request(repo, created, None);
        }
        let mut times: Vec<DateTime<Utc>> = (0..self.deploys_per_day[index])
            .map(|_| self.work_time(day))
            .collect();
        times.sort();
        for at in times {
            self.deployment(at);
        }
    }

    /// Generates one pull request with its commits, reviews and comments. `revert` makes it the
    /// revert of a shipped pull request (quick, labelled, rarely reviewed).
    fn pull_request(&mut self, repo: usize, created: DateTime<Utc>, revert: Option<&Pending>) {
        let end = self.end;
        let team = self.repos[repo].team;
        let bot = revert.is_none() && self.chance(0.03);
        let author = if bot {
            None
        } else {
            Some(self.member_of(team))
        };
        let number = self.repos[repo].next_number;
        self.repos[repo].next_number += 1;
        let repo_id = self.repos[repo].id.clone();
        let id = format!("{repo_id}#{number}");
        let (title, label) = match revert {
            Some(of) => (format!("Revert \"{}\"", of.title), Some("revert")),
            None if bot => (names::bump(&mut self.rng), Some("dependencies")),
            None => {
                let (t, l) = names::pr_title(&mut self.rng);
                (t, l)
            }
        };
        let (login, email) = match author {
            Some(a) => {
                let p = &self.people[a];
                let email = self.rng.gen::<f64>() < 0.6;
                (p.login.clone(), email.then(|| p.email.clone()))
            }
            None => ("dependabot[bot]".to_string(), None),
        };

        // Coding happens before the pull request is opened; drafts are opened early.
        let coding = if bot || revert.is_some() {
            MIN
        } else {
            self.lognormal(5 * HOUR, 1.3, 14 * DAY)
        };
        let first_commit = created - secs(coding);
        let draft = !bot && revert.is_none() && self.chance(0.15);
        let ready = if draft {
            self.lognormal(3 * HOUR, 1.0, 7 * DAY)
        } else {
            0
        };
        let ready = if draft {
            self.working(created + secs(ready))
        } else {
            created
        };

        // Reviews.
        let reviewed = if revert.is_some() {
            self.chance(0.3)
        } else if bot {
            self.chance(0.5)
        } else {
            !self.chance(0.07)
        };
        let mut reviews: Vec<(DateTime<Utc>, usize, ReviewState)> = Vec::new();
        let mut rework: Vec<DateTime<Utc>> = Vec::new();
        if reviewed {
            let pickup = if revert.is_some() {
                self.lognormal(15 * MIN, 0.8, 4 * HOUR)
            } else {
                self.lognormal(150 * MIN, 1.3, 10 * DAY)
            };
            let mut t = self.working(ready + secs(pickup));
            let first = self.reviewer_for(team, author);
            let roll: f64 = self.rng.gen();
            let plan: Vec<ReviewState> = if revert.is_some() || roll >= 0.45 {
                vec![ReviewState::Approved]
            } else if roll < 0.25 {
                vec![ReviewState::ChangesRequested, ReviewState::Approved]
            } else if roll < 0.40 {
                vec![ReviewState::Commented, ReviewState::Approved]
            } else {
                vec![
                    ReviewState::Dismissed,
                    ReviewState::ChangesRequested,
                    ReviewState::Approved,
                ]
            };
            let mut reviewer = first;
            for (i, state) in plan.iter().enumerate() {
                if i > 0 {
                    let gap = self.lognormal(4 * HOUR, 1.0, 5 * DAY);
                    let next = self.working(t + secs(gap));
                    if plan[i - 1] == ReviewState::ChangesRequested {
                        rework.push(t + (next - t) / 2);
                    }
                    t = next;
                    if self.chance(0.2) {
                        reviewer = self.reviewer_for(team, author);
                    }
                }
                reviews.push((t, reviewer, *state));
            }
        }
        let last_activity = reviews.last().map(|r| r.0).unwrap_or(ready);
        let abandoned = revert.is_none() && self.chance(0.06);
        let (mut merged_at, mut closed_at) = if abandoned {
            let wait = self.lognormal(2 * DAY, 1.0, 30 * DAY);
            (None, Some(self.working(last_activity + secs(wait))))
        } else {
            let wait = if reviewed {
                self.lognormal(HOUR, 1.0, 5 * DAY)
            } else if revert.is_some() {
                self.lognormal(20 * MIN, 0.6, 3 * HOUR)
            } else {
                self.lognormal(4 * HOUR, 1.2, 7 * DAY)
            };
            let at = if revert.is_some() {
                last_activity + secs(wait)
            } else {
                self.working(last_activity + secs(wait))
            };
            (Some(at), Some(at))
        };
        if closed_at.is_some_and(|c| c > end) {
            merged_at = None;
            closed_at = None;
        }
        let state = match (merged_at, closed_at) {
            (Some(_), _) => PrState::Merged,
            (None, Some(_)) => PrState::Closed,
            _ => PrState::Open,
        };

        // Size, and the commits of its own history.
        let size = if revert.is_some() {
            self.lognormal(60, 1.0, 2_000) as u64
        } else if bot {
            self.rng.gen_range(2..12)
        } else {
            (self.lognormal(90, 1.3, 20_000) as u64).max(1)
        };
        let deletions = (size as f64 * self.rng.gen_range(0.05..0.45)) as u64;
        let additions = size - deletions;
        let n_commits = match self.rng.gen_range(0..100) {
            0..=29 => 1,
            30..=54 => 2,
            55..=74 => 3,
            75..=84 => 4,
            _ => self.rng.gen_range(5..=8),
        };
        let mut commit_times = vec![first_commit];
        let span = (ready - first_commit).num_seconds().max(1);
        for _ in 1..n_commits {
            let off = self.rng.gen_range(0..span);
            commit_times.push(first_commit + secs(off));
        }
        commit_times.sort();
        commit_times.extend(rework);
        let head = format!("{}/{}", login.trim_end_matches("[bot]"), slug(&title));
        let merge_sha = merged_at.map(|_| hex(&mut self.rng, 20));
        let mut comments: Vec<(String, DateTime<Utc>, usize)> = Vec::new();
        for (i, (at, reviewer, state)) in reviews.iter().enumerate() {
            if *at > end {
                continue;
            }
            if matches!(
                state,
                ReviewState::ChangesRequested | ReviewState::Commented
            ) {
                for _ in 0..self.rng.gen_range(1..=4) {
                    comments.push((format!("{id}/r{}", i + 1), *at, *reviewer));
                }
            }
        }
        let updated = [Some(last_activity), closed_at]
            .into_iter()
            .flatten()
            .filter(|t| *t <= end)
            .max()
            .unwrap_or(created);
        self.buf.push_back(Record::PullRequest(PullRequest {
            id: id.clone(),
            source: None,
            repository: repo_id.clone(),
            number: Some(number),
            title: title.clone(),
            author: Some(login.clone()),
            author_email: email.clone(),
            state,
            draft,
            created_at: ts(created),
            updated_at: Some(ts(updated)),
            ready_for_review_at: (draft && ready <= end).then(|| ts(ready)),
            first_commit_at: None,
            first_review_at: None,
            approved_at: None,
            merged_at: merged_at.map(ts),
            closed_at: closed_at.map(ts),
            additions,
            deletions,
            comment_count: comments.len() as u64,
            base_branch: Some("main".into()),
            head_branch: Some(head),
            merge_commit_sha: merge_sha.clone(),
            revert_of: revert.map(|r| r.id.clone()),
            labels: label.map(|l| vec![l.to_string()]).unwrap_or_default(),
        }));
        let n = commit_times.len() as u64;
        for (i, at) in commit_times.into_iter().enumerate() {
            if at > end {
                continue;
            }
            let sha = hex(&mut self.rng, 20);
            self.buf.push_back(Record::Commit(Commit {
                id: format!("{repo_id}@{sha}"),
                source: None,
                repository: repo_id.clone(),
                sha,
                message: Some(names::commit_message(&mut self.rng, i)),
                author_name: author.map(|a| self.people[a].name.clone()),
                author_email: author.map(|a| self.people[a].email.clone()),
                author_login: Some(login.clone()),
                authored_at: ts(at),
                committed_at: None,
                additions: additions / n,
                deletions: deletions / n,
                pull_requests: vec![id.clone()],
            }));
        }
        for (i, (at, reviewer, state)) in reviews.iter().enumerate() {
            if *at > end {
                continue;
            }
            self.buf.push_back(Record::Review(Review {
                id: format!("{id}/r{}", i + 1),
                source: None,
                pull_request: id.clone(),
                reviewer: Some(self.people[*reviewer].login.clone()),
                state: *state,
                submitted_at: ts(*at),
            }));
        }
        for (i, (review, at, author)) in comments.into_iter().enumerate() {
            let delay = self.rng.gen_range(0..10 * MIN);
            self.buf.push_back(Record::ReviewComment(ReviewComment {
                id: format!("{id}/c{}", i + 1),
                source: None,
                pull_request: id.clone(),
                review: Some(review),
                author: Some(self.people[author].login.clone()),
                created_at: ts((at - secs(delay)).max(created)),
            }));
        }
        if let (Some(merged), Some(sha)) = (merged_at, merge_sha) {
            // The squash commit on the default branch: what deployments deploy.
            self.buf.push_back(Record::Commit(Commit {
                id: format!("{repo_id}@{sha}"),
                source: None,
                repository: repo_id.clone(),
                sha: sha.clone(),
                message: Some(format!("{title} (#{number})")),
                author_name: author.map(|a| self.people[a].name.clone()),
                author_email: author.map(|a| self.people[a].email.clone()),
                author_login: Some(login),
                authored_at: ts(merged),
                committed_at: None,
                additions,
                deletions,
                pull_requests: Vec::new(),
            }));
            // A few merges never reach production (merged to a branch nobody deploys).
            if revert.is_some() || !self.chance(0.02) {
                self.repos[repo].pending.push(Pending {
                    id,
                    title,
                    merged_at: merged,
                    sha,
                });
            }
        }
    }

    fn deployment(&mut self, at: DateTime<Utc>) {
        let end = self.end;
        let number = self.next_deploy;
        self.next_deploy += 1;
        let id = format!("deploy-{number}");
        if self.chance(0.08) {
            // Staging: not production, ships nothing as far as the metrics go.
            let repo = self.pick_repo();
            let duration = self.lognormal(6 * MIN, 0.5, HOUR);
            self.buf.push_back(Record::Deployment(Deployment {
                id,
                source: None,
                name: Some(format!("deploy {}", self.repos[repo].id)),
                environment: "staging".into(),
                is_production: None,
                branch: None,
                status: DeploymentStatus::Success,
                origin: DeploymentOrigin::GithubDeployment,
                started_at: ts(at),
                finished_at: Some(ts(at + secs(duration))),
                repositories: vec![DeployedRepository {
                    repository: self.repos[repo].id.clone(),
                    commit_sha: None,
                }],
                pull_requests: Vec::new(),
                commits: Vec::new(),
                url: None,
            }));
            return;
        }
        // A failed deployment is retried a little later; otherwise any repository deploys.
        let (repo, started) = match self.retry.take() {
            Some((repo, failed)) => {
                let wait = self.lognormal(40 * MIN, 0.8, 6 * HOUR);
                (repo, at.max(failed + secs(wait)))
            }
            None => (self.pick_repo(), at),
        };
        let duration = self.lognormal(9 * MIN, 0.5, 2 * HOUR);
        let finished = started + secs(duration);
        if finished > end {
            return;
        }
        let roll: f64 = self.rng.gen();
        let status = if roll < 0.06 {
            DeploymentStatus::Failure
        } else if roll < 0.075 {
            DeploymentStatus::Cancelled
        } else {
            DeploymentStatus::Success
        };
        let mut repos = vec![repo];
        if status == DeploymentStatus::Success && self.repos.len() > 1 && self.chance(0.02) {
            // A release spanning several repositories (counted once).
            let other = (repo + self.rng.gen_range(1..self.repos.len())) % self.repos.len();
            repos.push(other);
        }
        let mut deployed = Vec::new();
        let mut shipped: Vec<Pending> = Vec::new();
        for &r in &repos {
            let mut commit_sha = None;
            if status == DeploymentStatus::Success {
                let pending = std::mem::take(&mut self.repos[r].pending);
                let (mut go, stay): (Vec<Pending>, Vec<Pending>) =
                    pending.into_iter().partition(|p| p.merged_at <= started);
                self.repos[r].pending = stay;
                go.sort_by_key(|p| p.merged_at);
                commit_sha = go.last().map(|p| p.sha.clone());
                shipped.extend(go);
            }
            deployed.push(DeployedRepository {
                repository: self.repos[r].id.clone(),
                commit_sha,
            });
        }
        let multi = repos.len() > 1;
        self.buf.push_back(Record::Deployment(Deployment {
            id: id.clone(),
            source: None,
            name: Some(if multi {
                format!("release {}", started.format("%Y.%m.%d"))
            } else {
                format!("deploy {}", self.repos[repo].id)
            }),
            environment: "production".into(),
            is_production: None,
            branch: None,
            status,
            origin: if multi {
                DeploymentOrigin::Release
            } else {
                DeploymentOrigin::WorkflowRun
            },
            started_at: ts(started),
            finished_at: Some(ts(finished)),
            repositories: deployed,
            pull_requests: shipped.iter().map(|p| p.id.clone()).collect(),
            commits: Vec::new(),
            url: None,
        }));
        match status {
            DeploymentStatus::Failure => self.retry = Some((repo, finished)),
            DeploymentStatus::Success if self.chance(0.12) => {
                self.incident(&id, repo, finished, &shipped)
            }
            _ => {}
        }
    }

    /// An incident caused by deployment `deployment` of `repo`, opened after it finished.
    fn incident(
        &mut self,
        deployment: &str,
        repo: usize,
        finished: DateTime<Utc>,
        shipped: &[Pending],
    ) {
        let end = self.end;
        let detect = self.lognormal(90 * MIN, 1.0, 2 * DAY);
        let created = finished + secs(detect);
        if created > end {
            return;
        }
        let severity = match self.rng.gen_range(0..100) {
            0..=9 => "sev1",
            10..=44 => "sev2",
            _ => "sev3",
        };
        let median = match severity {
            "sev1" => HOUR,
            "sev2" => 3 * HOUR,
            _ => 6 * HOUR,
        };
        let resolve = self.lognormal(median, 1.0, 10 * DAY);
        let resolved = Some(created + secs(resolve)).filter(|t| *t <= end);
        let number = self.next_incident;
        self.next_incident += 1;
        let team = self.repos[repo].team;
        let repo_id = self.repos[repo].id.clone();
        let title = names::incident_title(&mut self.rng, &repo_id);
        let roll: f64 = self.rng.gen();
        let (origin, issue, pull_request) = if roll < 0.3 && !shipped.is_empty() {
            let of = &shipped[self.rng.gen_range(0..shipped.len())];
            let pr = format!("{repo_id}#{}", self.repos[repo].next_number);
            let of = Pending {
                id: of.id.clone(),
                title: of.title.clone(),
                merged_at: of.merged_at,
                sha: of.sha.clone(),
            };
            let opened = created + secs(self.lognormal(20 * MIN, 0.7, 3 * HOUR));
            if opened <= end {
                self.pull_request(repo, opened, Some(&of));
                (IncidentOrigin::RevertPr, None, Some(pr))
            } else {
                (IncidentOrigin::Manual, None, None)
            }
        } else if roll < 0.85 {
            let issue = self.ops_issue(&title, created, resolved, team);
            (IncidentOrigin::IssueRule, Some(issue), None)
        } else {
            (IncidentOrigin::Manual, None, None)
        };
        self.buf.push_back(Record::Incident(Incident {
            id: format!("INC-{number}"),
            source: None,
            title,
            origin,
            severity: Some(severity.into()),
            created_at: ts(created),
            resolved_at: resolved.map(ts),
            issue,
            pull_request,
            repository: Some(repo_id),
            team: Some(self.teams[team].id.clone()),
            deployment: Some(deployment.to_string()),
        }));
    }

    /// The OPS issue an incident was raised as; returns its id.
    fn ops_issue(
        &mut self,
        title: &str,
        created: DateTime<Utc>,
        resolved: Option<DateTime<Utc>>,
        team: usize,
    ) -> String {
        let id = self.next_issue.to_string();
        self.next_issue += 1;
        let key = format!("OPS-{}", self.next_ops);
        self.next_ops += 1;
        let assignee = self.member_of(team);
        let p = &self.people[assignee];
        let (jira, email) = (p.jira.clone(), p.email.clone());
        let triage = created + secs(self.lognormal(10 * MIN, 0.7, HOUR));
        let mut steps = Vec::new();
        if triage <= self.end && resolved.is_none_or(|r| triage < r) {
            steps.push((
                triage,
                "Open",
                StatusCategory::ToDo,
                "Investigating",
                StatusCategory::InProgress,
            ));
        }
        if let Some(r) = resolved {
            let from = if steps.is_empty() {
                ("Open", StatusCategory::ToDo)
            } else {
                ("Investigating", StatusCategory::InProgress)
            };
            steps.push((r, from.0, from.1, "Resolved", StatusCategory::Done));
        }
        let (status, category) = steps
            .last()
            .map(|s| (s.3, s.4))
            .unwrap_or(("Open", StatusCategory::ToDo));
        self.buf.push_back(Record::Issue(Issue {
            id: id.clone(),
            source: None,
            key,
            project_key: None,
            title: title.to_string(),
            issue_type: "Incident".into(),
            standard_type: StandardType::Incident,
            status: status.into(),
            status_category: category,
            priority: Some("Highest".into()),
            created_at: ts(created),
            updated_at: Some(ts(steps.last().map(|s| s.0).unwrap_or(created))),
            resolved_at: resolved.map(ts),
            story_points: None,
            parent: None,
            epic: None,
            assignee: Some(jira.clone()),
            assignee_email: Some(email),
            labels: vec!["incident".into()],
            sprints: Vec::new(),
        }));
        for (n, (at, fs, fc, to, tc)) in steps.into_iter().enumerate() {
            self.buf.push_back(Record::Transition(Transition {
                id: format!("{id}-{}", n + 1),
                source: None,
                issue: id.clone(),
                at: ts(at),
                from_status: Some(fs.into()),
                from_category: Some(fc),
                to_status: to.into(),
                to_category: tc,
                author: Some(jira.clone()),
            }));
        }
        id
    }

    // ---------------------------------------------------------------------------------------
    // Work: Jira issues, their status history and sprints.
    // ---------------------------------------------------------------------------------------

    fn work_day(&mut self, index: usize) {
        let day = self.start_day + Duration::days(index as i64);
        let mut times: Vec<DateTime<Utc>> = (0..self.issues_per_day[index])
            .map(|_| self.work_time(day))
            .collect();
        times.sort();
        let working: Vec<usize> = (0..self.teams.len())
            .filter(|t| self.teams[*t].working)
            .collect();
        for created in times {
            let team = *pick(&mut self.rng, &working);
            self.issue(team, created);
        }
    }

    fn issue(&mut self, team: usize, created: DateTime<Utc>) {
        let end = self.end;
        let id = self.next_issue.to_string();
        self.next_issue += 1;
        let key = {
            let t = &mut self.teams[team];
            t.next_key += 1;
            format!("{}-{}", t.key, t.next_key)
        };
        let roll = self.rng.gen_range(0..100);
        let mut kind = match roll {
            0..=1 => StandardType::Epic,
            2..=46 => StandardType::Story,
            47..=71 => StandardType::Bug,
            72..=91 => StandardType::Task,
            _ => StandardType::Subtask,
        };
        let parent = if kind == StandardType::Subtask {
            let parents = &self.teams[team].parents;
            if parents.is_empty() {
                kind = StandardType::Task;
                None
            } else {
                Some(parents[self.rng.gen_range(0..parents.len())].clone())
            }
        } else {
            None
        };
        let epic = if kind == StandardType::Story && self.chance(0.6) {
            let epics = &self.teams[team].epics;
            (!epics.is_empty()).then(|| epics[self.rng.gen_range(0..epics.len())].clone())
        } else {
            None
        };
        let (issue_type, points) = match kind {
            StandardType::Epic => ("Epic", None),
            StandardType::Story => ("Story", self.points(&[1.0, 2.0, 3.0, 5.0, 8.0, 13.0])),
            StandardType::Bug => ("Bug", self.points(&[1.0, 2.0, 3.0, 5.0])),
            StandardType::Task => ("Task", self.points(&[1.0, 2.0, 3.0])),
            _ => ("Sub-task", None),
        };
        let assignee = self.member_of(team);
        let backlog = kind != StandardType::Epic && self.chance(0.12);
        let wont_do = !backlog && self.chance(0.03);
        let in_sprints = matches!(
            kind,
            StandardType::Story | StandardType::Bug | StandardType::Task
        ) && !backlog
            && !wont_do;

        // Which sprint it is planned into: committed to the next one, or added to the running one.
        let mut first_sprint: Option<(usize, Option<DateTime<Utc>>)> = None;
        if in_sprints {
            let running = self
                .sprints
                .iter()
                .position(|s| s.start <= created && created < s.close());
            let next = self.sprints.iter().position(|s| s.start > created);
            first_sprint = match running {
                Some(k) if self.chance(0.35) => {
                    let delay = self.lognormal(40 * MIN, 1.0, 6 * HOUR);
                    let added = (created + secs(delay)).min(self.sprints[k].close() - secs(MIN));
                    Some((k, Some(added.max(created))))
                }
                _ => next.map(|k| (k, None)),
            };
        }

        // The status history.
        let mut steps: Vec<(DateTime<Utc>, &'static str, StatusCategory)> = Vec::new();
        let speed = if kind == StandardType::Bug { 0.6 } else { 1.0 };
        if wont_do {
            let wait = self.lognormal(5 * DAY, 1.0, 90 * DAY);
            let at = self.working(created + secs(wait));
            steps.push((at, "Won't Do", StatusCategory::Done));
        } else if !backlog {
            let begin = match first_sprint {
                Some((k, added)) => added.unwrap_or(self.sprints[k].start).max(created),
                None if kind == StandardType::Epic => created,
                None => created,
            };
            let wait = if kind == StandardType::Epic {
                self.lognormal(3 * DAY, 0.8, 30 * DAY)
            } else {
                self.lognormal((DAY as f64 * speed) as i64, 1.0, 30 * DAY)
            };
            let started = self.working(begin + secs(wait));
            steps.push((started, "In Progress", StatusCategory::InProgress));
            let (work, review) = if kind == StandardType::Epic {
                (self.lognormal(40 * DAY, 0.6, 200 * DAY), DAY)
            } else {
                (
                    self.lognormal((1.5 * DAY as f64 * speed) as i64, 0.9, 40 * DAY),
                    self.lognormal((0.6 * DAY as f64 * speed) as i64, 0.9, 20 * DAY),
                )
            };
            let in_review = self.working(started + secs(work));
            if kind != StandardType::Epic {
                steps.push((in_review, "In Review", StatusCategory::InProgress));
            }
            let done = self.working(in_review + secs(review));
            steps.push((done, "Done", StatusCategory::Done));
            if kind != StandardType::Epic && self.chance(0.05) {
                let wait = self.lognormal(DAY, 1.0, 20 * DAY);
                let reopened = self.working(done + secs(wait));
                steps.push((reopened, "Reopened", StatusCategory::InProgress));
                let wait = self.lognormal(36 * HOUR, 0.9, 20 * DAY);
                let again = self.working(reopened + secs(wait));
                steps.push((again, "Done", StatusCategory::Done));
            }
        }
        steps.retain(|s| s.0 <= end);
        let (status, category) = steps
            .last()
            .map(|s| (s.1, s.2))
            .unwrap_or(("To Do", StatusCategory::ToDo));
        let resolved = (category == StatusCategory::Done)
            .then(|| steps.last().map(|s| s.0))
            .flatten();

        // Sprint memberships: carried over from sprint to sprint until done (at most four).
        let mut sprints = Vec::new();
        if let Some((first, added)) = first_sprint {
            let board_key = self.teams[team].key.clone();
            let mut k = first;
            let mut added_at = added;
            loop {
                let slot = self.sprints[k];
                let done_in = resolved.is_some_and(|r| r <= slot.close());
                let removed = sprints.is_empty()
                    && added_at.is_none()
                    && slot.state == SprintState::Closed
                    && !done_in
                    && self.chance(0.05);
                let removed_at = removed.then(|| {
                    let after = self.lognormal(3 * DAY, 0.6, 8 * DAY);
                    (slot.start + secs(after)).min(slot.close() - secs(HOUR))
                });
                sprints.push(SprintMembership {
                    sprint: sprint_id(&board_key, k),
                    added_at: added_at.map(ts),
                    removed_at: removed_at.map(ts),
                });
                added_at = None;
                if removed || done_in || slot.state != SprintState::Closed {
                    break;
                }
                if sprints.len() == 4 || k + 1 >= self.sprints.len() {
                    break;
                }
                k += 1;
            }
        }

        let p = &self.people[assignee];
        let (jira, email, listed) = (p.jira.clone(), p.email.clone(), p.jira_listed);
        let assigned = !backlog || self.chance(0.3);
        let title = names::issue_title(&mut self.rng, kind);
        let priority = *pick(
            &mut self.rng,
            &["Highest", "High", "Medium", "Medium", "Low"],
        );
        let email_given = !listed || self.chance(0.5);
        let updated = steps.last().map(|s| s.0).unwrap_or(created);
        self.buf.push_back(Record::Issue(Issue {
            id: id.clone(),
            source: None,
            key,
            project_key: None,
            title,
            issue_type: issue_type.into(),
            standard_type: kind,
            status: status.into(),
            status_category: category,
            priority: Some(priority.into()),
            created_at: ts(created),
            updated_at: Some(ts(updated)),
            resolved_at: resolved.map(ts),
            story_points: points,
            parent,
            epic,
            assignee: assigned.then(|| jira.clone()),
            assignee_email: (assigned && email_given).then_some(email),
            labels: Vec::new(),
            sprints,
        }));
        let mut from = ("To Do", StatusCategory::ToDo);
        for (n, (at, to, category)) in steps.into_iter().enumerate() {
            self.buf.push_back(Record::Transition(Transition {
                id: format!("{id}-{}", n + 1),
                source: None,
                issue: id.clone(),
                at: ts(at),
                from_status: Some(from.0.into()),
                from_category: Some(from.1),
                to_status: to.into(),
                to_category: category,
                author: Some(jira.clone()),
            }));
            from = (to, category);
        }
        let t = &mut self.teams[team];
        match kind {
            StandardType::Epic => remember(&mut t.epics, id),
            StandardType::Story | StandardType::Task => remember(&mut t.parents, id),
            _ => {}
        }
    }

    fn points(&mut self, scale: &[f64]) -> Option<f64> {
        (!self.chance(0.15)).then(|| *pick(&mut self.rng, scale))
    }
}

/// Keeps the last few ids (epics and parents are picked among recent ones).
fn remember(list: &mut Vec<String>, id: String) {
    if list.len() == 8 {
        list.remove(0);
    }
    list.push(id);
}

fn sprint_id(key: &str, k: usize) -> String {
    format!("{}-sprint-{}", key.to_lowercase(), k + 1)
}

fn slug(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .take(5)
        .collect::<Vec<_>>()
        .join("-")
}

impl TeamInfo {
    fn new(id: &str, name: &str, key: &str, parent: Option<usize>, working: bool) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            key: key.into(),
            parent,
            members: Vec::new(),
            repos: Vec::new(),
            working,
            epics: Vec::new(),
            parents: Vec::new(),
            next_key: 0,
        }
    }
}

impl Iterator for Generator {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(r) = self.buf.pop_front() {
                return Some(r);
            }
            match self.phase {
                Phase::Org => {
                    self.org_records();
                    self.phase = Phase::Code;
                }
                Phase::Code => {
                    if self.day < self.plan.days as usize {
                        self.code_day(self.day);
                        self.day += 1;
                    } else {
                        self.day = 0;
                        self.phase = Phase::Work;
                    }
                }
                Phase::Work => {
                    if self.day < self.plan.days as usize {
                        self.work_day(self.day);
                        self.day += 1;
                    } else {
                        self.phase = Phase::Done;
                    }
                }
                Phase::Done => return None,
            }
        }
    }
}
