//! The generator without a database: deterministic output, every line valid for `pulse import`,
//! and the invariants and rough shapes the metrics rely on. Statistical bounds are wide (several
//! standard deviations of the generator's own probabilities) and the seed is fixed, so they are
//! stable; they catch a broken distribution, not noise.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use pulse_demo::{generate, write_jsonl, Counts, Options, Size};
use pulse_ingest::record::*;
use sha2::{Digest, Sha256};

fn small(seed: u64) -> Options {
    Options {
        size: Size::Small,
        seed,
        anchor: NaiveDate::from_ymd_opt(2025, 6, 2).unwrap(),
    }
}

fn jsonl(options: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    write_jsonl(options, &mut out).unwrap();
    out
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let a = jsonl(&small(7));
    let b = jsonl(&small(7));
    assert_eq!(Sha256::digest(&a), Sha256::digest(&b));
    let c = jsonl(&small(8));
    let first = |v: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(v)
            .lines()
            .filter(|l| l.contains("\"pull_request\""))
            .take(50)
            .map(str::to_string)
            .collect()
    };
    assert_ne!(
        first(&a),
        first(&c),
        "another seed changes the pull requests"
    );
    assert_ne!(Sha256::digest(&a), Sha256::digest(&c));
    // Another anchor moves the data in time.
    let mut later = small(7);
    later.anchor = NaiveDate::from_ymd_opt(2025, 9, 1).unwrap();
    assert_ne!(Sha256::digest(&a), Sha256::digest(jsonl(&later)));
}

#[test]
fn every_line_passes_import_validation() {
    let text = jsonl(&small(42));
    let checked = pulse_ingest::validate::check(&text[..]);
    assert!(
        checked.problems.is_empty(),
        "{:?}",
        &checked.problems[..checked.problems.len().min(10)]
    );
    assert!(
        checked.external_refs.is_empty(),
        "every reference resolves within the file: {:?}",
        &checked.external_refs[..checked.external_refs.len().min(5)]
    );
    // Custom counts too, including tiny ones.
    let tiny = Options {
        size: Size::Custom(Counts {
            prs: 40,
            deployments: 10,
            issues: 30,
        }),
        ..small(1)
    };
    let checked = pulse_ingest::validate::check(&jsonl(&tiny)[..]);
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    assert!(checked.external_refs.is_empty());
}

#[test]
fn custom_counts_are_exact() {
    let options = Options {
        size: Size::Custom(Counts {
            prs: 3_000,
            deployments: 500,
            issues: 700,
        }),
        ..small(3)
    };
    let mut per = BTreeMap::new();
    let mut reverts = 0;
    let mut ops = 0;
    for r in generate(&options) {
        *per.entry(r.kind().as_str()).or_insert(0u64) += 1;
        match &r {
            Record::PullRequest(p) if p.revert_of.is_some() => reverts += 1,
            Record::Issue(i) if i.standard_type == StandardType::Incident => ops += 1,
            _ => {}
        }
    }
    assert_eq!(per["pull_request"] - reverts, 3_000);
    assert_eq!(per["issue"] - ops, 700);
    // Deployments that would finish after the end are dropped (at most a handful).
    assert!((495..=500).contains(&per["deployment"]), "{per:?}");
}

fn t(ts: &Timestamp) -> DateTime<Utc> {
    ts.0
}

#[test]
fn the_small_data_is_plausible_and_consistent() {
    let options = small(42);
    let end = options.end();
    let start = options.start();
    let records: Vec<Record> = generate(&options).collect();

    let mut prs: HashMap<&str, &PullRequest> = HashMap::new();
    let mut reviews: HashMap<&str, Vec<&Review>> = HashMap::new();
    let mut deployments: HashMap<&str, &Deployment> = HashMap::new();
    let mut incidents = Vec::new();
    let mut issues = Vec::new();
    let mut transitions: HashMap<&str, Vec<&Transition>> = HashMap::new();
    let mut people = Vec::new();
    let mut teams = Vec::new();
    let mut sprints = Vec::new();
    for r in &records {
        match r {
            Record::PullRequest(p) => {
                prs.insert(&p.id, p);
            }
            Record::Review(v) => reviews.entry(&v.pull_request).or_default().push(v),
            Record::Deployment(d) => {
                deployments.insert(&d.id, d);
            }
            Record::Incident(i) => incidents.push(i),
            Record::Issue(i) => issues.push(i),
            Record::Transition(x) => transitions.entry(&x.issue).or_default().push(x),
            Record::Person(p) => people.push(p),
            Record::Team(x) => teams.push(x),
            Record::Sprint(s) => sprints.push(s),
            _ => {}
        }
    }

    // Organisation: an org team with a hierarchy of three working teams below it.
    assert_eq!(teams.iter().filter(|t| t.parent.is_none()).count(), 1);
    assert!(teams.len() >= 4, "{}", teams.len());
    let depth = |start: &str| {
        let mut id = start.to_string();
        let mut d = 0;
        while let Some(p) = teams
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.parent.clone())
        {
            id = p;
            d += 1;
        }
        d
    };
    assert!(teams.iter().any(|t| depth(&t.id) >= 2), "a nested team");
    assert!(people
        .iter()
        .all(|p| p.email.is_some() && p.accounts.iter().any(|a| a.provider == Provider::Github)));
    assert!(people
        .iter()
        .any(|p| p.accounts.iter().any(|a| a.provider == Provider::Jira)));

    // Volumes.
    assert!((1_500..1_600).contains(&prs.len()), "{}", prs.len());
    assert!(
        (295..=300).contains(&deployments.len()),
        "{}",
        deployments.len()
    );
    assert!(issues.len() >= 1_500, "{}", issues.len());
    assert!(
        sprints.len() >= 3 * 12,
        "sprints every two weeks on three boards"
    );

    // Every timestamp lies within the window.
    for p in prs.values() {
        let created = t(&p.created_at);
        assert!(
            created >= start - chrono::Duration::days(1) && created < end,
            "{}",
            p.id
        );
        if let Some(m) = &p.merged_at {
            assert!(t(m) >= created, "merged before created: {}", p.id);
            assert!(t(m) <= end);
            assert_eq!(p.state, PrState::Merged);
        }
        let ready = p.ready_for_review_at.as_ref().map(t).unwrap_or(created);
        assert!(ready >= created);
        let author = p.author.as_deref();
        let first_review = reviews
            .get(p.id.as_str())
            .into_iter()
            .flatten()
            .filter(|r| r.reviewer.as_deref() != author)
            .map(|r| t(&r.submitted_at))
            .min();
        if let Some(first) = first_review {
            assert!(
                first >= ready,
                "first review before ready for review: {}",
                p.id
            );
            if let Some(m) = &p.merged_at {
                assert!(t(m) >= first, "merged before its first review: {}", p.id);
            }
        }
    }

    // Weekly rhythm: weekday share of openings; the generator gives weekends ~5 % of a weekday's
    // weight, so the share is ~97 %.
    let weekday = prs
        .values()
        .filter(|p| !matches!(t(&p.created_at).weekday(), Weekday::Sat | Weekday::Sun))
        .count();
    let share = weekday as f64 / prs.len() as f64;
    assert!(share > 0.8, "weekday share {share}");
    assert!(share < 1.0, "some weekend activity");

    // Shapes of the pull requests (expected: drafts 15 %, no review ~8 %, reverts ~1 %).
    let merged: Vec<&&PullRequest> = prs.values().filter(|p| p.merged_at.is_some()).collect();
    let drafts = prs.values().filter(|p| p.draft).count() as f64 / prs.len() as f64;
    assert!((0.08..0.25).contains(&drafts), "drafts {drafts}");
    let unreviewed = merged
        .iter()
        .filter(|p| !reviews.contains_key(p.id.as_str()))
        .count() as f64
        / merged.len() as f64;
    assert!(
        (0.03..0.2).contains(&unreviewed),
        "merged without review {unreviewed}"
    );
    let reverts: Vec<_> = prs.values().filter(|p| p.revert_of.is_some()).collect();
    assert!(!reverts.is_empty());
    for r in &reverts {
        assert!(prs.contains_key(r.revert_of.as_deref().unwrap()));
    }
    assert!(prs.values().any(|p| p.state == PrState::Closed));
    assert!(prs.values().any(|p| p.state == PrState::Open));
    // Long tail: the slowest decile of merges takes far longer than the median.
    let mut spans: Vec<i64> = merged
        .iter()
        .map(|p| (t(p.merged_at.as_ref().unwrap()) - t(&p.created_at)).num_minutes())
        .collect();
    spans.sort();
    let median = spans[spans.len() / 2];
    let p90 = spans[spans.len() * 9 / 10];
    assert!(p90 > 3 * median, "median {median} min, p90 {p90} min");

    // Deployments: some failures, a handful of multi-repository releases, and merged pull
    // requests that never shipped.
    let production: Vec<&&Deployment> = deployments
        .values()
        .filter(|d| d.environment == "production")
        .collect();
    let failed = production
        .iter()
        .filter(|d| d.status == DeploymentStatus::Failure)
        .count();
    assert!((5..=40).contains(&failed), "failed deployments {failed}");
    let multi = production
        .iter()
        .filter(|d| d.repositories.len() > 1)
        .count();
    assert!(
        (1..=15).contains(&multi),
        "multi-repository deployments {multi}"
    );
    let shipped: HashSet<&str> = deployments
        .values()
        .flat_map(|d| d.pull_requests.iter().map(String::as_str))
        .collect();
    assert!(
        shipped.len() > merged.len() / 2,
        "most merged pull requests ship"
    );
    assert!(
        merged.iter().any(|p| !shipped.contains(p.id.as_str())),
        "some merged pull requests are never deployed"
    );
    for d in deployments.values() {
        for id in &d.pull_requests {
            let p = prs[id.as_str()];
            assert!(
                t(p.merged_at.as_ref().unwrap()) <= t(&d.started_at),
                "{id} shipped before merge"
            );
        }
    }

    // Incidents follow the deployment they are charged to; the change failure rate (successful
    // production deployments with an incident) is ~12 % by construction: with ~255 such
    // deployments the standard deviation is ~2 points, so 6–19 % is a wide band.
    let successful: Vec<&&&Deployment> = production
        .iter()
        .filter(|d| d.status == DeploymentStatus::Success)
        .collect();
    let mut failing = HashSet::new();
    for i in &incidents {
        let d = deployments[i.deployment.as_deref().expect("attributed")];
        assert!(
            t(&i.created_at) >= t(d.finished_at.as_ref().unwrap()),
            "{}",
            i.id
        );
        if let Some(r) = &i.resolved_at {
            assert!(t(r) > t(&i.created_at));
            let hours = (t(r) - t(&i.created_at)).num_minutes() as f64 / 60.0;
            assert!(hours < 24.0 * 11.0);
        }
        failing.insert(d.id.as_str());
    }
    let cfr = failing.len() as f64 / successful.len() as f64;
    assert!((0.06..0.19).contains(&cfr), "change failure rate {cfr}");
    assert!(incidents
        .iter()
        .any(|i| i.origin == IncidentOrigin::RevertPr));
    assert!(incidents
        .iter()
        .any(|i| i.origin == IncidentOrigin::IssueRule));

    // Jira: transitions in order, a reopened issue, scope added after start and carry-over.
    for list in transitions.values() {
        for w in list.windows(2) {
            assert!(t(&w[0].at) <= t(&w[1].at));
            assert_eq!(w[0].to_status, w[1].from_status.clone().unwrap());
        }
    }
    let reopened = transitions.values().any(|l| {
        l.iter().any(|x| {
            x.from_category == Some(StatusCategory::Done)
                && x.to_category == StatusCategory::InProgress
        })
    });
    assert!(reopened, "an issue was reopened");
    assert!(issues
        .iter()
        .any(|i| i.sprints.iter().any(|s| s.added_at.is_some())));
    assert!(issues.iter().any(|i| i.sprints.len() >= 2), "carry-over");
    assert!(issues
        .iter()
        .any(|i| i.sprints.iter().any(|s| s.removed_at.is_some())));
    assert!(issues.iter().any(|i| i.epic.is_some()));
    assert!(issues.iter().any(|i| i.parent.is_some()));
    for i in &issues {
        if let Some(r) = &i.resolved_at {
            assert_eq!(i.status_category, StatusCategory::Done);
            assert!(t(r) >= t(&i.created_at) && t(r) <= end);
        }
    }
}
