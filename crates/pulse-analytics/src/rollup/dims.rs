//! The dimensions cells are kept for, and which rows belong to each. A dimension is the whole
//! client, one repository, one team with its sub-teams, or one project: exactly the scopes the
//! metric filters select, resolved with the same `pulse_db::repo::scope` functions and matched
//! with the same rules as the list conditions (`repo::*::condition`), so a dimension's rows are
//! the rows a filtered report loads.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use pulse_core::Result;
use pulse_db::entity::repositories;
use pulse_db::repo::scope;
use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use pulse_db::TenantTx;
use uuid::Uuid;

/// Dimension kinds (stored as `rollup_cells.dim_kind`).
pub mod kind {
    /// The whole client.
    pub const CLIENT: i16 = 0;
    /// One repository.
    pub const REPOSITORY: i16 = 1;
    /// One team with its sub-teams.
    pub const TEAM: i16 = 2;
    /// One project.
    pub const PROJECT: i16 = 3;
}

/// One dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dim {
    /// Its kind.
    pub kind: i16,
    /// Its id (nil for the client).
    pub id: Uuid,
}

impl Dim {
    /// The whole client.
    pub const CLIENT: Dim = Dim {
        kind: kind::CLIENT,
        id: Uuid::nil(),
    };
}

/// Index of a dimension in [`Dims::list`].
pub type DimIx = u32;

/// Every dimension of a client and the lookups that place rows in them.
#[derive(Debug, Default)]
pub struct Dims {
    /// The dimensions; index 0 is the client.
    pub list: Vec<Dim>,
    by_repo: HashMap<Uuid, Vec<DimIx>>,
    by_member: HashMap<Uuid, Vec<DimIx>>,
    by_team: HashMap<Uuid, Vec<DimIx>>,
    by_key: HashMap<String, Vec<DimIx>>,
    by_board: HashMap<Uuid, Vec<DimIx>>,
    fingerprint: u64,
}

fn push(map: &mut HashMap<Uuid, Vec<DimIx>>, key: Uuid, ix: DimIx) {
    map.entry(key).or_default().push(ix);
}

impl Dims {
    /// Resolves the client's dimensions.
    pub async fn load(tx: &TenantTx) -> Result<Self> {
        let mut d = Dims {
            list: vec![Dim::CLIENT],
            ..Default::default()
        };
        // What the cells depend on in the organisation, in a canonical order, for the fingerprint.
        let mut shape: BTreeMap<Dim, Vec<String>> = BTreeMap::new();
        let repos: Vec<Uuid> = repositories::Entity::find()
            .select_only()
            .column(repositories::Column::Id)
            .filter(repositories::Column::ClientId.eq(tx.client_uuid()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        for r in repos {
            let ix = d.list.len() as DimIx;
            d.list.push(Dim {
                kind: kind::REPOSITORY,
                id: r,
            });
            push(&mut d.by_repo, r, ix);
        }
        let mut teams = scope::all_teams(tx).await?;
        teams.sort_by_key(|t| t.id);
        for t in &teams {
            let s = scope::team_scope(tx, t.id).await?;
            let dim = Dim {
                kind: kind::TEAM,
                id: t.id,
            };
            let ix = d.list.len() as DimIx;
            d.list.push(dim);
            let mut sig = Vec::new();
            for r in &s.coverage.repositories {
                push(&mut d.by_repo, *r, ix);
                sig.push(format!("r{r}"));
            }
            for p in &s.members {
                push(&mut d.by_member, *p, ix);
                sig.push(format!("m{p}"));
            }
            for sub in &s.teams {
                push(&mut d.by_team, *sub, ix);
                sig.push(format!("t{sub}"));
            }
            for k in &s.coverage.jira_keys {
                d.by_key.entry(k.clone()).or_default().push(ix);
                sig.push(format!("k{k}"));
            }
            for b in &s.coverage.boards {
                push(&mut d.by_board, *b, ix);
                sig.push(format!("b{b}"));
            }
            sig.push(format!("p{:?}", t.parent_id));
            shape.insert(dim, sig);
        }
        let mut projects = scope::all_projects(tx).await?;
        projects.sort_by_key(|p| p.id);
        for p in &projects {
            let c = scope::coverage(tx, &[p.id]).await?;
            let dim = Dim {
                kind: kind::PROJECT,
                id: p.id,
            };
            let ix = d.list.len() as DimIx;
            d.list.push(dim);
            let mut sig = Vec::new();
            for r in &c.repositories {
                push(&mut d.by_repo, *r, ix);
                sig.push(format!("r{r}"));
            }
            for k in &c.jira_keys {
                d.by_key.entry(k.clone()).or_default().push(ix);
                sig.push(format!("k{k}"));
            }
            for b in &c.boards {
                push(&mut d.by_board, *b, ix);
                sig.push(format!("b{b}"));
            }
            shape.insert(dim, sig);
        }
        let mut h = DefaultHasher::new();
        for (dim, mut sig) in shape {
            sig.sort();
            dim.hash(&mut h);
            sig.hash(&mut h);
        }
        d.fingerprint = h.finish();
        Ok(d)
    }

    /// A fingerprint of the team and project scopes: equal fingerprints mean every row belongs
    /// to the same teams and projects.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }

    fn collect<'a>(&self, parts: impl IntoIterator<Item = Option<&'a Vec<DimIx>>>) -> Vec<DimIx> {
        let mut out = vec![0];
        for p in parts.into_iter().flatten() {
            out.extend_from_slice(p);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// A deployment: the client, and every repository, team and project covering any of its
    /// repositories.
    pub fn of_deployment<'a>(&self, repos: impl IntoIterator<Item = &'a Uuid>) -> Vec<DimIx> {
        self.collect(repos.into_iter().map(|r| self.by_repo.get(r)))
    }

    /// A pull request (or change): its repository's dimensions and the teams of its author.
    pub fn of_pull_request(&self, repo: Uuid, author: Option<Uuid>) -> Vec<DimIx> {
        self.collect([
            self.by_repo.get(&repo),
            author.and_then(|a| self.by_member.get(&a)),
        ])
    }

    /// An incident: the dimensions of its repository and of the repositories of the deployment
    /// charged with it (as stored), and the teams containing its team.
    pub fn of_incident<'a>(
        &self,
        repo: Option<Uuid>,
        cause_repos: impl IntoIterator<Item = &'a Uuid>,
        team: Option<Uuid>,
    ) -> Vec<DimIx> {
        let mut parts: Vec<Option<&Vec<DimIx>>> = vec![
            repo.and_then(|r| self.by_repo.get(&r)),
            team.and_then(|t| self.by_team.get(&t)),
        ];
        parts.extend(cause_repos.into_iter().map(|r| self.by_repo.get(r)));
        self.collect(parts)
    }

    /// An issue: the teams and projects of its Jira project and the teams of its assignee.
    pub fn of_issue(&self, key: Option<&str>, assignee: Option<Uuid>) -> Vec<DimIx> {
        self.collect([
            key.and_then(|k| self.by_key.get(k)),
            assignee.and_then(|a| self.by_member.get(&a)),
        ])
    }

    /// A sprint: the teams and projects covering its board.
    pub fn of_sprint(&self, board: Option<Uuid>) -> Vec<DimIx> {
        self.collect([board.and_then(|b| self.by_board.get(&b))])
    }

    /// The dimension a filter selects: `None` when it combines several (served from raw rows).
    pub fn of_filter(team: Option<Uuid>, project: Option<Uuid>, repo: Option<Uuid>) -> Option<Dim> {
        match (team, project, repo) {
            (None, None, None) => Some(Dim::CLIENT),
            (Some(id), None, None) => Some(Dim {
                kind: kind::TEAM,
                id,
            }),
            (None, Some(id), None) => Some(Dim {
                kind: kind::PROJECT,
                id,
            }),
            (None, None, Some(id)) => Some(Dim {
                kind: kind::REPOSITORY,
                id,
            }),
            _ => None,
        }
    }
}
