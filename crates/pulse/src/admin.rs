//! `pulse user`, `pulse client`, the demo client and the first admin.

use clap::Subcommand;
use pulse_auth::password::Hasher;
use pulse_auth::token::random_password;
use pulse_config::Config;
use pulse_core::{ClientId, Role, UserId};
use pulse_db::repo::{clients, sessions, users, Page};
use pulse_db::Db;

#[derive(Subcommand)]
pub enum UserAction {
    /// Create a user; prints a generated password unless --password-stdin is given.
    Create {
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        /// Display name (defaults to the part of the e-mail before the @).
        #[arg(long, default_value = "")]
        name: String,
        /// admin, user or viewer.
        #[arg(long, default_value = "user")]
        role: Role,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List a client's users.
    List {
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
    },
    /// Change a user's role.
    SetRole {
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: Role,
    },
    /// Deactivate a user and end their sessions.
    Disable {
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
    },
    /// Set a new generated password (printed once) and end the user's sessions.
    ResetPassword {
        /// Client name (defaults to CLIENT_NAME).
        #[arg(long)]
        client: Option<String>,
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
pub enum ClientAction {
    /// Create a client.
    Create {
        /// Client name (unique, case-insensitive).
        name: String,
    },
    /// List clients.
    List,
    /// Deactivate a client: its members can no longer log in.
    Deactivate {
        /// Client name.
        name: String,
    },
}

pub(crate) async fn open(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(config).await?;
    pulse_db::migration::ensure_current(db.system()).await?;
    Ok(db)
}

pub(crate) async fn resolve_client(
    config: &Config,
    db: &Db,
    name: Option<String>,
) -> anyhow::Result<ClientId> {
    let name = name
        .or_else(|| config.bootstrap.client_name.clone())
        .ok_or_else(|| anyhow::anyhow!("name the client with --client (or set CLIENT_NAME)"))?;
    let client = clients::find_by_name(db.system(), &name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no client named '{name}' (see `pulse client list`)"))?;
    Ok(ClientId::from_uuid(client.id))
}

async fn find_user(db: &Db, client: ClientId, email: &str) -> anyhow::Result<UserId> {
    let user = users::find_in_client(db.system(), client, email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user {email} in this client"))?;
    Ok(UserId::from_uuid(user.id))
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn user(config: Config, action: UserAction) -> anyhow::Result<()> {
    let db = open(&config).await?;
    let hasher = Hasher::new(config.auth.hash_concurrency);
    match action {
        UserAction::Create {
            client,
            email,
            name,
            role,
            password_stdin,
        } => {
            pulse_core::validate::check_email(&email)?;
            let client = resolve_client(&config, &db, client).await?;
            let password = if password_stdin {
                read_password()?
            } else {
                random_password()
            };
            pulse_auth::password::check_policy(&password)
                .map_err(|m| anyhow::anyhow!("password {m}"))?;
            let tx = db.tenant(client).await?;
            let display = if name.is_empty() {
                email.split('@').next().unwrap_or(&email).to_string()
            } else {
                name
            };
            let hash = hasher.hash(&password).await?;
            let user = users::create(
                &tx,
                users::NewUser {
                    email,
                    name: display,
                    password_hash: hash,
                    role,
                },
            )
            .await?;
            tx.commit().await?;
            println!("created {} ({})", user.email, user.role);
            if !password_stdin {
                println!("password: {password}");
            }
        }
        UserAction::List { client } => {
            let client = resolve_client(&config, &db, client).await?;
            let tx = db.tenant(client).await?;
            let mut offset = 0;
            loop {
                let page =
                    users::list(&tx, &Default::default(), Page::new(Some(200), Some(offset)))
                        .await?;
                for u in &page.items {
                    println!(
                        "{}\t{}\t{}\t{}",
                        u.email,
                        u.role,
                        if u.active { "active" } else { "disabled" },
                        u.name
                    );
                }
                offset += page.items.len() as u64;
                if page.items.is_empty() || offset >= page.total {
                    break;
                }
            }
            tx.commit().await?;
        }
        UserAction::SetRole {
            client,
            email,
            role,
        } => {
            let client = resolve_client(&config, &db, client).await?;
            let id = find_user(&db, client, &email).await?;
            let tx = db.tenant(client).await?;
            users::set_role(&tx, id, role).await?;
            tx.commit().await?;
            println!("{email} is now {role}");
        }
        UserAction::Disable { client, email } => {
            let client = resolve_client(&config, &db, client).await?;
            let id = find_user(&db, client, &email).await?;
            let tx = db.tenant(client).await?;
            users::set_active(&tx, id, false).await?;
            sessions::revoke_all(&tx, id, None, "disabled by operator").await?;
            pulse_db::repo::api_tokens::revoke_all(&tx, id).await?;
            tx.commit().await?;
            println!("{email} is disabled; their sessions ended");
        }
        UserAction::ResetPassword { client, email } => {
            let client = resolve_client(&config, &db, client).await?;
            let id = find_user(&db, client, &email).await?;
            let password = random_password();
            let hash = hasher.hash(&password).await?;
            let tx = db.tenant(client).await?;
            users::set_password_hash(&tx, id, hash).await?;
            sessions::revoke_all(&tx, id, None, "password reset by operator").await?;
            tx.commit().await?;
            println!("new password for {email}: {password}");
        }
    }
    Ok(())
}

pub async fn client(config: Config, action: ClientAction) -> anyhow::Result<()> {
    let db = open(&config).await?;
    match action {
        ClientAction::Create { name } => {
            let c = clients::create(db.system(), &name).await?;
            println!("created client {} ({})", c.name, c.id);
        }
        ClientAction::List => {
            for c in clients::list(db.system()).await? {
                println!(
                    "{}\t{}\t{}",
                    c.id,
                    if c.active { "active" } else { "inactive" },
                    c.name
                );
            }
        }
        ClientAction::Deactivate { name } => {
            let c = clients::find_by_name(db.system(), &name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no client named '{name}'"))?;
            clients::set_active(db.system(), ClientId::from_uuid(c.id), false).await?;
            println!("client {name} is deactivated");
        }
    }
    Ok(())
}

/// `pulse import FILE`: validates the whole file, then applies it in one transaction and prints
/// what it inserted and updated per record type. A bad file prints every problem and applies
/// nothing.
pub async fn import(
    config: Config,
    file: std::path::PathBuf,
    client: Option<String>,
) -> anyhow::Result<()> {
    let db = open(&config).await?;
    let client = resolve_client(&config, &db, client).await?;
    std::fs::metadata(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let tx = db.tenant(client).await?;
    let reopen = || std::fs::File::open(&file).map(std::io::BufReader::new);
    match pulse_ingest::import(&tx, reopen).await {
        Ok(summary) => {
            tx.commit().await?;
            println!("{:<16} {:>9} {:>9}", "type", "inserted", "updated");
            for (kind, c) in &summary.counts {
                println!("{kind:<16} {:>9} {:>9}", c.inserted, c.updated);
            }
            println!("{} records loaded from {}", summary.records, file.display());
            refresh_metrics(&db, client, summary.records).await
        }
        Err(pulse_ingest::ImportError::Invalid(problems)) => {
            for p in &problems {
                eprintln!("{}: {}", p.field, p.message);
            }
            anyhow::bail!(
                "{} was not loaded: {} problems (nothing was applied)",
                file.display(),
                problems.len()
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// Brings the client's metric aggregates up to date after a load, so the first report does not pay
/// for it.
async fn refresh_metrics(db: &Db, client: ClientId, records: u64) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    db.refresh_statistics_after(records).await?;
    if let Some(s) = pulse_analytics::rollup::refresh_pending(db, client).await? {
        println!(
            "metric aggregates updated in {:.1} s ({} days, {} cells)",
            started.elapsed().as_secs_f64(),
            s.days,
            s.cells
        );
    }
    Ok(())
}

/// A named size of generated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SizeArg {
    /// About six months: 3 teams, 6 repositories, 1,500 pull requests, 300 deployments, 1,500 issues.
    Small,
    /// Two years: 1,000,000 pull requests, 200,000 deployments, 1,000,000 issues.
    Large,
}

impl SizeArg {
    /// The size, with any count overridden.
    pub fn size(
        self,
        prs: Option<u64>,
        deployments: Option<u64>,
        issues: Option<u64>,
    ) -> pulse_demo::Size {
        let base = match self {
            SizeArg::Small => pulse_demo::Size::Small,
            SizeArg::Large => pulse_demo::Size::Large,
        };
        if prs.is_none() && deployments.is_none() && issues.is_none() {
            return base;
        }
        let c = base.counts();
        pulse_demo::Size::Custom(pulse_demo::Counts {
            prs: prs.unwrap_or(c.prs),
            deployments: deployments.unwrap_or(c.deployments),
            issues: issues.unwrap_or(c.issues),
        })
    }
}

/// `pulse generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// How much data: `small` or `large`; --prs, --deployments and --issues override its counts.
    #[arg(long, value_enum, default_value_t = SizeArg::Small)]
    size: SizeArg,
    /// Pull requests (custom count).
    #[arg(long)]
    prs: Option<u64>,
    /// Deployments (custom count).
    #[arg(long)]
    deployments: Option<u64>,
    /// Jira issues (custom count).
    #[arg(long)]
    issues: Option<u64>,
    /// Seed of the generator.
    #[arg(long, default_value_t = pulse_demo::DEFAULT_SEED)]
    seed: u64,
    /// The data ends at the start of this day (YYYY-MM-DD, UTC; default: today).
    #[arg(long)]
    anchor: Option<chrono::NaiveDate>,
    /// The JSON Lines file to write (`-` for standard output).
    #[arg(long)]
    out: std::path::PathBuf,
}

/// The generator's options; the anchor defaults to today (UTC) so the data looks current.
pub fn demo_options(
    size: pulse_demo::Size,
    seed: u64,
    anchor: Option<chrono::NaiveDate>,
) -> anyhow::Result<pulse_demo::Options> {
    let counts = size.counts();
    if counts.prs == 0 && counts.deployments == 0 && counts.issues == 0 {
        anyhow::bail!("nothing to generate: every count is 0");
    }
    Ok(pulse_demo::Options {
        size,
        seed,
        anchor: anchor.unwrap_or_else(|| chrono::Utc::now().date_naive()),
    })
}

/// `pulse generate`: streams the records to a file and prints what it wrote.
pub fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let size = args.size.size(args.prs, args.deployments, args.issues);
    let options = demo_options(size, args.seed, args.anchor)?;
    let started = std::time::Instant::now();
    let stats = if args.out.as_os_str() == "-" {
        let stdout = std::io::stdout().lock();
        pulse_demo::write_jsonl(&options, std::io::BufWriter::with_capacity(1 << 20, stdout))?
    } else {
        let file = std::fs::File::create(&args.out)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.out.display()))?;
        pulse_demo::write_jsonl(&options, std::io::BufWriter::with_capacity(1 << 20, file))?
    };
    let elapsed = started.elapsed().as_secs_f64();
    let total: u64 = stats.values().sum();
    for (kind, n) in &stats {
        eprintln!("{kind:<16} {n:>10}");
    }
    eprintln!(
        "{total} records (anchor {}, seed {}) in {elapsed:.2} s ({:.0} records/s)",
        options.anchor,
        options.seed,
        total as f64 / elapsed.max(1e-9)
    );
    Ok(())
}

/// Loads generated data into the demo client unless it already has some (running the demo again
/// keeps the data it loaded the first time). Prints how long generating and loading took.
async fn load_demo_data(
    db: &Db,
    client: ClientId,
    options: &pulse_demo::Options,
) -> anyhow::Result<()> {
    use pulse_db::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let existing = pulse_db::entity::pull_requests::Entity::find()
        .filter(pulse_db::entity::pull_requests::Column::ClientId.eq(client.uuid()))
        .count(db.system())
        .await?;
    if existing > 0 {
        println!("Acme Demo already has data ({existing} pull requests); not loading it again");
        return Ok(());
    }
    let path = std::env::temp_dir().join(format!("pulse-demo-{}.jsonl", std::process::id()));
    let started = std::time::Instant::now();
    let file = std::fs::File::create(&path)?;
    let written = pulse_demo::write_jsonl(options, std::io::BufWriter::new(file));
    let stats = match written {
        Ok(s) => s,
        Err(e) => {
            std::fs::remove_file(&path).ok();
            return Err(e.into());
        }
    };
    let generated = started.elapsed();
    let started = std::time::Instant::now();
    let tx = db.tenant(client).await?;
    let reopen =
        || std::fs::File::open(&path).map(|f| std::io::BufReader::with_capacity(1 << 20, f));
    let result = pulse_ingest::import(&tx, reopen).await;
    std::fs::remove_file(&path).ok();
    let summary = result.map_err(|e| anyhow::anyhow!("loading the demo data failed: {e}"))?;
    tx.commit().await?;
    refresh_metrics(db, client, summary.records).await?;
    let prs = stats.get("pull_request").copied().unwrap_or(0);
    let deployments = stats.get("deployment").copied().unwrap_or(0);
    let issues = stats.get("issue").copied().unwrap_or(0);
    println!(
        "Loaded {} demo records ({prs} pull requests, {deployments} deployments, {issues} issues, up to {}) in {:.1} s (generated in {:.1} s)",
        summary.records,
        options.anchor,
        started.elapsed().as_secs_f64(),
        generated.as_secs_f64()
    );
    Ok(())
}

/// The demo client: "Acme Demo" with one admin, one user and one viewer sharing a random password,
/// printed once, and generated data loaded the first time. Running it again sets a new password.
pub async fn create_demo(
    db: &Db,
    hasher: &Hasher,
    options: &pulse_demo::Options,
) -> anyhow::Result<()> {
    let client = match clients::find_by_name(db.system(), "Acme Demo").await? {
        Some(c) => c,
        None => clients::create(db.system(), "Acme Demo").await?,
    };
    let client = ClientId::from_uuid(client.id);
    let password = random_password();
    let hash = hasher.hash(&password).await?;
    let tx = db.tenant(client).await?;
    println!("Demo client \"Acme Demo\"; every account below uses the password: {password}");
    for (email, name, role) in [
        ("admin@acme.example", "Ada Admin", Role::Admin),
        ("user@acme.example", "Uma User", Role::User),
        ("viewer@acme.example", "Vic Viewer", Role::Viewer),
    ] {
        match users::find_in_client(tx.conn(), client, email).await? {
            Some(existing) => {
                let id = UserId::from_uuid(existing.id);
                users::set_password_hash(&tx, id, hash.clone()).await?;
                users::set_active(&tx, id, true).await?;
                users::set_role(&tx, id, role).await?;
            }
            None => {
                users::create(
                    &tx,
                    users::NewUser {
                        email: email.into(),
                        name: name.into(),
                        password_hash: hash.clone(),
                        role,
                    },
                )
                .await?;
            }
        }
        println!("  {role:<6} {email}");
    }
    tx.commit().await?;
    load_demo_data(db, client, options).await?;
    Ok(())
}

/// Creates the first admin from ADMIN_EMAIL / ADMIN_PASSWORD when no user exists; otherwise says how.
pub async fn bootstrap_admin(
    config: &Config,
    db: &Db,
    hasher: &Hasher,
    pinned: Option<ClientId>,
) -> anyhow::Result<()> {
    if users::any_exists(db.system()).await? {
        return Ok(());
    }
    let Some(email) = &config.bootstrap.admin_email else {
        tracing::warn!("no users exist yet: create an admin with `pulse client create NAME` and `pulse user create --client NAME --email ... --role admin`, or set ADMIN_EMAIL and ADMIN_PASSWORD");
        return Ok(());
    };
    let client = match pinned {
        Some(c) => c,
        None => {
            let c = match clients::find_by_name(db.system(), "Default").await? {
                Some(c) => c,
                None => clients::create(db.system(), "Default").await?,
            };
            ClientId::from_uuid(c.id)
        }
    };
    let hash = hasher
        .hash(config.bootstrap.admin_password.expose())
        .await?;
    let tx = db.tenant(client).await?;
    users::create(
        &tx,
        users::NewUser {
            email: email.clone(),
            name: "Administrator".into(),
            password_hash: hash,
            role: Role::Admin,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(email = %email, "created the first admin from ADMIN_EMAIL");
    Ok(())
}
