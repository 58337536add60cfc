//! Word lists for names and titles. Index-based names are unique per index.

use pulse_ingest::record::StandardType;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const FIRST: [&str; 40] = [
    "Ada",
    "Grace",
    "Linus",
    "Margaret",
    "Alan",
    "Barbara",
    "Dennis",
    "Frances",
    "Ken",
    "Radia",
    "Tim",
    "Hedy",
    "Guido",
    "Katherine",
    "Bjarne",
    "Sophie",
    "James",
    "Anita",
    "Edsger",
    "Joan",
    "Donald",
    "Lynn",
    "John",
    "Evelyn",
    "Niklaus",
    "Mary",
    "Vint",
    "Annie",
    "Leslie",
    "Karen",
    "Rob",
    "Jean",
    "Brian",
    "Ida",
    "Yukihiro",
    "Carol",
    "Bob",
    "Shafi",
    "Larry",
    "Susan",
];

const LAST: [&str; 40] = [
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Turing",
    "Liskov",
    "Ritchie",
    "Allen",
    "Thompson",
    "Perlman",
    "Berners",
    "Lamarr",
    "Rossum",
    "Johnson",
    "Stroustrup",
    "Wilson",
    "Gosling",
    "Borg",
    "Dijkstra",
    "Clarke",
    "Knuth",
    "Conway",
    "McCarthy",
    "Boyd",
    "Wirth",
    "Keller",
    "Cerf",
    "Easley",
    "Lamport",
    "Jones",
    "Pike",
    "Bartik",
    "Kernighan",
    "Rhodes",
    "Matsumoto",
    "Shaw",
    "Kahn",
    "Goldwasser",
    "Page",
    "Kare",
];

/// A unique (first, last) name for person `i` (up to 1,600 people, then repeats with a suffix).
pub fn person(i: usize) -> (String, String) {
    let first = FIRST[i % FIRST.len()];
    let round = i / FIRST.len();
    let last = LAST[(round + i) % LAST.len()];
    let cycle = i / (FIRST.len() * LAST.len());
    if cycle == 0 {
        (first.into(), last.into())
    } else {
        (first.into(), format!("{last}{cycle}"))
    }
}

const GROUPS: [&str; 6] = [
    "Product",
    "Infrastructure",
    "Data",
    "Commerce",
    "Core",
    "Experience",
];

/// Group `i` (a team of teams): `(id, name)`.
pub fn group(i: usize) -> (String, String) {
    let name = GROUPS[i % GROUPS.len()];
    (name.to_lowercase(), name.to_string())
}

const TEAMS: [(&str, &str); 12] = [
    ("Payments", "PAY"),
    ("Growth", "GRO"),
    ("Platform", "PLT"),
    ("Mobile", "MOB"),
    ("Search", "SRC"),
    ("Identity", "IDN"),
    ("Billing", "BIL"),
    ("Insights", "INS"),
    ("Checkout", "CHK"),
    ("Messaging", "MSG"),
    ("Storage", "STO"),
    ("Reliability", "REL"),
];

/// Working team `i`: `(id, name, Jira project key)`.
pub fn team(i: usize) -> (String, String, String) {
    match TEAMS.get(i) {
        Some((name, key)) => (name.to_lowercase(), name.to_string(), key.to_string()),
        None => (
            format!("team-{}", i + 1),
            format!("Team {}", i + 1),
            format!("T{}", i + 1),
        ),
    }
}

const PROJECTS: [&str; 12] = [
    "Checkout revamp",
    "Activation funnel",
    "Platform services",
    "Mobile app",
    "Search relevance",
    "Single sign-on",
    "Invoicing",
    "Analytics",
    "One-click buy",
    "Notifications",
    "Object storage",
    "Reliability programme",
];

/// Project `i`'s name.
pub fn project(i: usize) -> String {
    match PROJECTS.get(i) {
        Some(p) => p.to_string(),
        None => format!("Project {}", i + 1),
    }
}

const REPOS: [&str; 12] = [
    "payments-api",
    "checkout-web",
    "growth-service",
    "web-app",
    "platform-infra",
    "auth-service",
    "mobile-app",
    "search-service",
    "billing-service",
    "data-pipeline",
    "notifications",
    "design-system",
];

/// Repository `i`'s name (also its id).
pub fn repo(i: usize) -> String {
    match REPOS.get(i) {
        Some(r) => r.to_string(),
        None => format!("service-{}", i + 1),
    }
}

const VERBS: [&str; 12] = [
    "Add", "Fix", "Refactor", "Remove", "Speed up", "Support", "Handle", "Validate", "Migrate",
    "Log", "Cache", "Simplify",
];

const OBJECTS: [&str; 20] = [
    "payment intents",
    "refund webhooks",
    "login throttling",
    "search ranking",
    "invoice PDFs",
    "session refresh",
    "cart totals",
    "retry policy",
    "feature flags",
    "email templates",
    "rate limits",
    "audit events",
    "currency rounding",
    "push notifications",
    "CSV export",
    "onboarding checklist",
    "order history",
    "dark mode",
    "health checks",
    "timeouts on capture",
];

/// A pull request title and its label.
pub fn pr_title(rng: &mut ChaCha8Rng) -> (String, Option<&'static str>) {
    let verb = VERBS[rng.gen_range(0..VERBS.len())];
    let object = OBJECTS[rng.gen_range(0..OBJECTS.len())];
    let label = match verb {
        "Fix" | "Handle" | "Validate" => Some("bug"),
        "Add" | "Support" => Some("feature"),
        "Refactor" | "Remove" | "Simplify" | "Migrate" => Some("chore"),
        _ => None,
    };
    (format!("{verb} {object}"), label)
}

const DEPS: [&str; 8] = [
    "serde", "tokio", "react", "axios", "lodash", "openssl", "eslint", "webpack",
];

/// A dependency bump's title.
pub fn bump(rng: &mut ChaCha8Rng) -> String {
    let dep = DEPS[rng.gen_range(0..DEPS.len())];
    let (a, b) = (rng.gen_range(1..9), rng.gen_range(0..30));
    format!("Bump {dep} from {a}.{b}.0 to {a}.{}.0", b + 1)
}

/// A commit message; the first commit of a pull request starts the work.
pub fn commit_message(rng: &mut ChaCha8Rng, i: usize) -> String {
    const LATER: [&str; 6] = [
        "Address review comments",
        "Add tests",
        "Fix lint",
        "Handle edge case",
        "Rename for clarity",
        "Update docs",
    ];
    if i == 0 {
        let (t, _) = pr_title(rng);
        t
    } else {
        LATER[rng.gen_range(0..LATER.len())].to_string()
    }
}

/// An incident title for a repository.
pub fn incident_title(rng: &mut ChaCha8Rng, repo: &str) -> String {
    const KINDS: [&str; 6] = [
        "Elevated 5xx rate on",
        "Latency spike in",
        "Error budget burn in",
        "Failed jobs in",
        "Timeouts calling",
        "Memory leak in",
    ];
    format!("{} {repo}", KINDS[rng.gen_range(0..KINDS.len())])
}

/// An issue title.
pub fn issue_title(rng: &mut ChaCha8Rng, kind: StandardType) -> String {
    let object = OBJECTS[rng.gen_range(0..OBJECTS.len())];
    match kind {
        StandardType::Epic => format!("Epic: {object}"),
        StandardType::Bug => format!("{object} broken for some users"),
        StandardType::Subtask => format!("Tests for {object}"),
        StandardType::Task => format!("Clean up {object}"),
        _ => format!("As a customer I want {object}"),
    }
}
