//! Affinity groups (`createAffinityGroup`, `deleteAffinityGroup`, `listAffinityGroups`,
//! `listAffinityGroupTypes`) and the rules they put on placement.
//!
//! An instance joins groups at deploy (`affinitygroupids` or `affinitygroupnames`, groups of
//! the instance's owner) and leaves them when it is expunged. Placement honours them among the
//! candidate hosts: strict host anti-affinity excludes hosts where another member runs (or last
//! ran: a stopped External instance keeps its disk there), strict host affinity keeps to the
//! hosts of the members placed so far, and the non-strict kinds only rank candidates. No
//! candidate under a strict rule fails the start with "insufficient capacity" (533), naming the
//! groups. A restart on the instance's last host keeps it there: that is where its disk is.

use std::collections::BTreeSet;
use trellis_model::affinity::AffinityType;
use trellis_model::entity::{Account, AffinityGroup, Host, Instance};
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{AffinityGroupFilter, Page};

use super::ownership::{administers, OwnerInput};
use super::{App, Caller};

/// Input of `createAffinityGroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AffinityGroupCreate {
    pub name: String,
    pub group_type: String,
    pub description: Option<String>,
    /// `account` + `domainid`: an administrator creating for another account.
    pub account: Option<String>,
    pub domain_uuid: Option<String>,
    /// `projectid`: the group belongs to the project.
    #[serde(default)]
    pub project_uuid: Option<String>,
}

impl AffinityGroupCreate {
    fn owner(&self) -> OwnerInput {
        OwnerInput {
            account: self.account.clone(),
            domain_uuid: self.domain_uuid.clone(),
            project_uuid: self.project_uuid.clone(),
        }
    }
}

/// Which group `deleteAffinityGroup` names: its id, or its name in the owner's account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AffinityGroupRef {
    Id(String),
    Name {
        name: String,
        account: Option<String>,
        domain_uuid: Option<String>,
        #[serde(default)]
        project_uuid: Option<String>,
    },
}

/// `listAffinityGroups`: the filters and the owner scope.
#[derive(Debug, Clone, Default)]
pub struct AffinityGroupQuery {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub group_type: Option<String>,
    pub instance_uuid: Option<String>,
    pub keyword: Option<String>,
    pub owner: OwnerInput,
    pub recursive: bool,
    pub list_all: bool,
}

/// A group as the views show it: with its owner's names and its members.
#[derive(Debug, Clone)]
pub struct AffinityGroupView {
    pub group: AffinityGroup,
    pub account: String,
    pub domain_uuid: String,
    pub domain: String,
    pub domain_path: String,
    pub members: Vec<String>,
    /// The project owning the group, if a project does.
    pub project: Option<trellis_model::entity::Project>,
}

impl App {
    /// Request-time checks of `createAffinityGroup`: the owner, the name and the type.
    pub async fn affinity_group_create_check(
        &self,
        caller: &Caller,
        input: &AffinityGroupCreate,
    ) -> Result<(Account, AffinityType)> {
        let account = self.owner_account(caller, &input.owner()).await?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(Error::invalid_param(
                "Affinity group name must be 1 to 255 characters",
            ));
        }
        let group_type = AffinityType::parse(&input.group_type).ok_or_else(|| {
            Error::invalid_param(format!(
                "Unable to create affinity group, invalid affinity group type {}: use one of {}",
                input.group_type,
                AffinityType::ALL.map(AffinityType::as_str).join(", ")
            ))
        })?;
        if self
            .store
            .affinity_group_by_name(account.id, name)
            .await?
            .is_some()
        {
            return Err(duplicate(name));
        }
        Ok((account, group_type))
    }

    /// `createAffinityGroup`, the job.
    pub async fn affinity_group_create(
        &self,
        caller: &Caller,
        input: &AffinityGroupCreate,
    ) -> Result<AffinityGroup> {
        let (account, group_type) = self.affinity_group_create_check(caller, input).await?;
        let name = input.name.trim();
        let row = AffinityGroup {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.to_string(),
            description: input.description.clone().filter(|d| !d.is_empty()),
            group_type,
            account_id: account.id,
            domain_id: account.domain_id,
            created: now_millis(),
        };
        let group = match self.store.affinity_group_create(&row).await {
            Ok(g) => g,
            Err(e) if e.is_unique_violation() => return Err(duplicate(name)),
            Err(e) => return Err(e.into()),
        };
        self.event(
            Some(caller),
            "AG.CREATE",
            &format!(
                "Affinity group {name} ({}) created for account {}",
                group_type.as_str(),
                account.name
            ),
            Some(("AffinityGroup", &group.uuid)),
        )
        .await;
        Ok(group)
    }

    /// The group a request names, which the caller must own or administer.
    pub async fn affinity_group_resolve(
        &self,
        caller: &Caller,
        group: &AffinityGroupRef,
    ) -> Result<AffinityGroup> {
        let g = match group {
            AffinityGroupRef::Id(uuid) => self
                .store
                .affinity_group_by_uuid(uuid)
                .await?
                .ok_or_else(|| {
                    Error::invalid_param(format!("Unable to find affinity group by id {uuid}"))
                })?,
            AffinityGroupRef::Name {
                name,
                account,
                domain_uuid,
                project_uuid,
            } => {
                let owner = OwnerInput {
                    account: account.clone(),
                    domain_uuid: domain_uuid.clone(),
                    project_uuid: project_uuid.clone(),
                };
                let account = self.owner_account(caller, &owner).await?;
                self.store
                    .affinity_group_by_name(account.id, name)
                    .await?
                    .ok_or_else(|| {
                        Error::invalid_param(format!(
                            "Unable to find affinity group by name {name} for account {}",
                            account.name
                        ))
                    })?
            }
        };
        self.affinity_group_access(caller, &g).await?;
        Ok(g)
    }

    async fn affinity_group_access(&self, caller: &Caller, g: &AffinityGroup) -> Result<()> {
        if g.account_id == caller.account.id || self.is_project_member(caller, g.account_id).await?
        {
            return Ok(());
        }
        if let Some(domain) = self.store.domain_get(g.domain_id).await? {
            if administers(caller, &domain) {
                return Ok(());
            }
        }
        Err(Error::denied(format!(
            "Account {} does not have permission to access affinity group {}",
            caller.account.name, g.uuid
        )))
    }

    /// `deleteAffinityGroup`, the job: the group and its memberships go; members keep running.
    pub async fn affinity_group_delete(
        &self,
        caller: &Caller,
        group: &AffinityGroupRef,
    ) -> Result<()> {
        let g = self.affinity_group_resolve(caller, group).await?;
        self.store.affinity_group_delete(g.id).await?;
        self.event(
            Some(caller),
            "AG.DELETE",
            &format!("Affinity group {} deleted", g.name),
            Some(("AffinityGroup", &g.uuid)),
        )
        .await;
        Ok(())
    }

    /// `listAffinityGroups`: the groups the caller may see, filtered.
    pub async fn affinity_group_list(
        &self,
        caller: &Caller,
        q: &AffinityGroupQuery,
        page: Page,
    ) -> Result<(Vec<AffinityGroup>, i64)> {
        let group_type =
            match &q.group_type {
                Some(t) => Some(AffinityType::parse(t).ok_or_else(|| {
                    Error::invalid_param(format!("Invalid affinity group type {t}"))
                })?),
                None => None,
            };
        // The groups of an instance the caller may see, whoever owns them; else the owner scope.
        let (instance_id, scope) = match &q.instance_uuid {
            Some(u) => (
                Some(self.instance_for(caller, u).await?.id),
                super::ownership::OwnerScope::default(),
            ),
            None => (
                None,
                self.owner_scope(caller, &q.owner, q.recursive, q.list_all)
                    .await?,
            ),
        };
        let f = AffinityGroupFilter {
            uuid: q.uuid.clone(),
            name: q.name.clone(),
            group_type,
            instance_id,
            keyword: q.keyword.clone(),
            account_id: scope.account_id,
            domain_id: scope.domain_id,
            domain_path: scope.domain_path,
            account_ids: scope.account_ids,
            exclude_projects: scope.exclude_projects,
        };
        Ok(self.store.affinity_group_list(&f, page).await?)
    }

    /// A group with what its view shows.
    pub async fn affinity_group_view(&self, g: &AffinityGroup) -> Result<AffinityGroupView> {
        let account = self.store.account_get(g.account_id).await?;
        let domain = self.store.domain_get(g.domain_id).await?;
        Ok(AffinityGroupView {
            group: g.clone(),
            account: account.map(|a| a.name).unwrap_or_default(),
            domain_uuid: domain.as_ref().map(|d| d.uuid.clone()).unwrap_or_default(),
            domain: domain.as_ref().map(|d| d.name.clone()).unwrap_or_default(),
            domain_path: domain.map(|d| d.path).unwrap_or_default(),
            members: self.store.affinity_group_member_uuids(g.id).await?,
            project: self.store.project_by_account(g.account_id).await?,
        })
    }

    /// The groups an instance is a member of.
    pub async fn affinity_groups_of(&self, inst: &Instance) -> Result<Vec<AffinityGroup>> {
        Ok(self.store.affinity_groups_of(inst.id).await?)
    }

    /// The groups a deployment for `owner` names (ids or names, not both), each the owner's.
    pub(crate) async fn affinity_groups_for_deploy(
        &self,
        owner: &Account,
        ids: &[String],
        names: &[String],
    ) -> Result<Vec<AffinityGroup>> {
        if !ids.is_empty() && !names.is_empty() {
            return Err(Error::invalid_param(
                "Either affinitygroupids or affinitygroupnames can be given, not both",
            ));
        }
        let mut out: Vec<AffinityGroup> = Vec::new();
        for uuid in ids {
            let g = self
                .store
                .affinity_group_by_uuid(uuid)
                .await?
                .filter(|g| g.account_id == owner.id)
                .ok_or_else(|| {
                    Error::invalid_param(format!(
                        "Unable to find affinity group by id {uuid} for account {}",
                        owner.name
                    ))
                })?;
            if !out.iter().any(|x| x.id == g.id) {
                out.push(g);
            }
        }
        for name in names {
            let g = self
                .store
                .affinity_group_by_name(owner.id, name)
                .await?
                .ok_or_else(|| {
                    Error::invalid_param(format!(
                        "Unable to find affinity group by name {name} for account {}",
                        owner.name
                    ))
                })?;
            if !out.iter().any(|x| x.id == g.id) {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// Apply the instance's affinity groups to placement candidates: drop the hosts a strict
    /// rule excludes, then keep those the non-strict rules rank best. An empty answer means no
    /// candidate satisfies the strict rules (the error names them).
    pub(crate) async fn affinity_filter(
        &self,
        inst: &Instance,
        candidates: Vec<Host>,
    ) -> Result<std::result::Result<Vec<Host>, String>> {
        let groups = self.store.affinity_groups_of(inst.id).await?;
        if groups.is_empty() {
            return Ok(Ok(candidates));
        }
        let ids: Vec<i64> = groups.iter().map(|g| g.id).collect();
        let members = self.store.affinity_members(&ids, inst.id).await?;
        let hosts_of = |gid: i64| -> BTreeSet<i64> {
            members
                .iter()
                .filter(|m| m.group_id == gid)
                .filter_map(|m| m.host_id)
                .collect()
        };
        let mut scored: Vec<(u32, Host)> = Vec::new();
        'hosts: for h in candidates {
            let mut penalty = 0;
            for g in &groups {
                let used = hosts_of(g.id);
                let violates = if g.group_type.is_anti() {
                    used.contains(&h.id)
                } else {
                    !used.is_empty() && !used.contains(&h.id)
                };
                if violates {
                    if g.group_type.is_strict() {
                        continue 'hosts;
                    }
                    penalty += 1;
                }
            }
            scored.push((penalty, h));
        }
        let Some(best) = scored.iter().map(|(p, _)| *p).min() else {
            let strict: Vec<String> = groups
                .iter()
                .filter(|g| g.group_type.is_strict())
                .map(|g| format!("{} ({})", g.name, g.group_type.as_str()))
                .collect();
            return Ok(Err(format!(
                "no candidate host satisfies its affinity groups {}",
                strict.join(", ")
            )));
        };
        Ok(Ok(scored
            .into_iter()
            .filter(|(p, _)| *p == best)
            .map(|(_, h)| h)
            .collect()))
    }
}

fn duplicate(name: &str) -> Error {
    Error::invalid_param(format!(
        "Unable to create affinity group, a group with name {name} already exists."
    ))
}
