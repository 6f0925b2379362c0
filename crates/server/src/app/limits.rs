//! Resource limits and counts (`listResourceLimits`, `updateResourceLimit`,
//! `updateResourceCount`) and the check every allocation passes ([`App::limits_check`]).
//!
//! A limit is set per account (a project's through its project account) or per domain; a type
//! without one follows the settings `max.account.*`, `max.project.*` and `max.domain.*`. Root
//! administrator accounts and the ROOT domain are unlimited. Counts are read from the resources
//! themselves at each check, so they cannot drift; `updateResourceCount` only reports them. An
//! allocation must fit the owner's limits and those of its domain and every domain above it
//! (ROOT excepted), else it fails with upstream's 535 before anything is created or any
//! extension runs.

use trellis_model::entity::{Account, Domain};
use trellis_model::limits::{LimitOwner, ResourceCounts, ResourceType};
use trellis_model::{ids, Error, Result, RoleType};
use trellis_store::CountScope;

use super::{App, Caller};

/// One limit as `listResourceLimits` shows it.
#[derive(Debug, Clone)]
pub struct LimitView {
    pub resource_type: ResourceType,
    /// -1: unlimited.
    pub max: i64,
    pub account: Option<Account>,
    pub domain: Domain,
    /// The project, when the account is a project's.
    pub project: Option<(String, String)>,
}

/// Limit, count and availability of every type, for account, domain and project views.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub entries: Vec<(ResourceType, i64, i64)>,
}

impl Usage {
    /// The `<prefix>limit`, `<prefix>total`, `<prefix>available` fields (limits and
    /// availability as strings, `Unlimited` where there is none, as upstream).
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for (t, max, total) in &self.entries {
            let p = t.view_prefix();
            let (limit, available) = if *max < 0 {
                ("Unlimited".to_string(), "Unlimited".to_string())
            } else {
                (max.to_string(), (max - total).max(0).to_string())
            };
            m.insert(format!("{p}limit"), limit.into());
            m.insert(format!("{p}total"), (*total).into());
            m.insert(format!("{p}available"), available.into());
        }
        m
    }
}

/// Whose defaults apply to an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Account,
    Project,
    Domain,
}

impl App {
    fn default_limit(&self, kind: Kind, t: ResourceType) -> i64 {
        let scope = match kind {
            Kind::Account => "account",
            Kind::Project => "project",
            Kind::Domain => "domain",
        };
        if kind == Kind::Project && t == ResourceType::Project {
            return -1;
        }
        self.setting_i64(&format!("max.{scope}.{}", t.setting_suffix()))
    }

    /// The limit of every type for an owner: set explicitly, else the default; -1 for the ROOT
    /// domain and for root administrators.
    async fn limits_of(
        &self,
        owner: LimitOwner,
        kind: Kind,
        unlimited: bool,
    ) -> Result<Vec<(ResourceType, i64)>> {
        let set = self.store.resource_limits_of(owner).await?;
        Ok(ResourceType::ALL
            .into_iter()
            .map(|t| {
                let max = if unlimited {
                    -1
                } else {
                    set.iter()
                        .find(|r| r.resource_type == t.number())
                        .map_or_else(|| self.default_limit(kind, t), |r| r.max)
                };
                (t, max)
            })
            .collect())
    }

    async fn account_kind(&self, a: &Account) -> Result<(Kind, bool, Option<(String, String)>)> {
        let project = self.store.project_by_account(a.id).await?;
        let root_admin = self
            .store
            .role_get(a.role_id)
            .await?
            .is_some_and(|r| r.role_type == RoleType::Admin);
        Ok(match project {
            Some(p) => (Kind::Project, false, Some((p.uuid, p.name))),
            None => (Kind::Account, root_admin, None),
        })
    }

    /// The domain and those above it, ROOT excluded, nearest first.
    async fn domain_chain(&self, domain_id: i64) -> Result<Vec<Domain>> {
        let mut out = Vec::new();
        let mut next = self.store.domain_get(domain_id).await?;
        while let Some(d) = next {
            if d.path == "/" {
                break;
            }
            next = match d.parent_id {
                Some(p) => self.store.domain_get(p).await?,
                None => None,
            };
            out.push(d);
        }
        Ok(out)
    }

    /// Refuse an allocation of `wants` for `account` that would exceed a limit of the account
    /// (or project) or of one of its domains. Callers hold the allocation lock across this
    /// check and the write it guards.
    pub async fn limits_check(
        &self,
        account: &Account,
        wants: &[(ResourceType, i64)],
    ) -> Result<()> {
        let (kind, unlimited, project) = self.account_kind(account).await?;
        if !unlimited {
            let limits = self
                .limits_of(LimitOwner::Account(account.id), kind, false)
                .await?;
            let counts = self
                .store
                .resource_counts(CountScope::Account(account.id))
                .await?;
            if let Some(t) = exceeded(&limits, &counts, wants) {
                let domain = self.store.domain_get(account.domain_id).await?;
                let who = match &project {
                    Some((_, name)) => format!("project name={name}"),
                    None => format!("account name={}", account.name),
                };
                return Err(Error::limit_exceeded(format!(
                    "Maximum number of resources of type '{}' for {who} in domain id={} has been exceeded.",
                    t.name(),
                    domain.map(|d| d.uuid).unwrap_or_default()
                )));
            }
        }
        for d in self.domain_chain(account.domain_id).await? {
            let limits = self
                .limits_of(LimitOwner::Domain(d.id), Kind::Domain, false)
                .await?;
            let counts = self
                .store
                .resource_counts(CountScope::Domain(&d.path))
                .await?;
            if let Some(t) = exceeded(&limits, &counts, wants) {
                return Err(Error::limit_exceeded(format!(
                    "Maximum number of resources of type '{}' for domain id={} has been exceeded.",
                    t.name(),
                    d.uuid
                )));
            }
        }
        Ok(())
    }

    /// [`App::limits_check`] under the server's allocation lock, returned held: the caller
    /// keeps it until the resource it checked for is written, so two allocations on this server
    /// cannot both take the last unit.
    pub async fn limits_reserve(
        &self,
        account: &Account,
        wants: &[(ResourceType, i64)],
    ) -> Result<tokio::sync::OwnedMutexGuard<()>> {
        let guard = self.lock_for("resource-limits").await.lock_owned().await;
        self.limits_check(account, wants).await?;
        Ok(guard)
    }

    /// The account that owns a resource, for a limit check.
    pub async fn limits_account(&self, id: i64) -> Result<Account> {
        self.store
            .account_get(id)
            .await?
            .ok_or_else(|| Error::internal("resource without account"))
    }

    /// Limits, counts and availability of an account (or project account).
    pub async fn account_usage(&self, a: &Account) -> Result<Usage> {
        let (kind, unlimited, _) = self.account_kind(a).await?;
        let limits = self
            .limits_of(LimitOwner::Account(a.id), kind, unlimited)
            .await?;
        let counts = self
            .store
            .resource_counts(CountScope::Account(a.id))
            .await?;
        Ok(usage(&limits, &counts))
    }

    /// Limits, counts and availability of a domain's subtree.
    pub async fn domain_usage(&self, d: &Domain) -> Result<Usage> {
        let limits = self
            .limits_of(LimitOwner::Domain(d.id), Kind::Domain, d.path == "/")
            .await?;
        let counts = self
            .store
            .resource_counts(CountScope::Domain(&d.path))
            .await?;
        Ok(usage(&limits, &counts))
    }

    /// Resolve the owner of a limit command: a project, an account (with its domain), or a
    /// domain; the caller's own account when nothing is named.
    async fn limit_target(
        &self,
        caller: &Caller,
        account: Option<&str>,
        domain_uuid: Option<&str>,
        project_uuid: Option<&str>,
    ) -> Result<(Option<Account>, Domain)> {
        if let Some(pu) = project_uuid {
            let p = self.project_for(caller, pu).await?;
            let a = self
                .store
                .account_get(p.account_id)
                .await?
                .ok_or_else(|| Error::internal("project without account"))?;
            let d = self.domain_of(a.domain_id).await?;
            return Ok((Some(a), d));
        }
        let domain = match domain_uuid {
            Some(u) => self
                .store
                .domain_by_uuid(u)
                .await?
                .ok_or_else(|| Error::not_found(format!("Unable to find domain by id {u}")))?,
            None if account.is_some() => caller.domain.clone(),
            None => return Ok((Some(caller.account.clone()), caller.domain.clone())),
        };
        let visible = caller.is_root_admin()
            || (caller.role_type() == RoleType::DomainAdmin
                && domain.path.starts_with(&caller.domain.path))
            || (domain.id == caller.domain.id
                && account.is_some_and(|n| n.eq_ignore_ascii_case(&caller.account.name)));
        if !visible {
            return Err(Error::denied(format!(
                "Account {} does not have permission to operate within domain id={}",
                caller.account.name, domain.uuid
            )));
        }
        match account {
            Some(name) => {
                let a = self
                    .store
                    .account_by_name(domain.id, name)
                    .await?
                    .ok_or_else(|| {
                        Error::not_found(format!(
                            "Unable to find account {name} in domain {}",
                            domain.name
                        ))
                    })?;
                if caller.role_type() == RoleType::User && a.id != caller.account.id {
                    return Err(Error::denied("a user may only see its own limits"));
                }
                Ok((Some(a), domain))
            }
            None => Ok((None, domain)),
        }
    }

    async fn domain_of(&self, id: i64) -> Result<Domain> {
        self.store
            .domain_get(id)
            .await?
            .ok_or_else(|| Error::internal("account without domain"))
    }

    /// `listResourceLimits`.
    pub async fn limits_list(
        &self,
        caller: &Caller,
        account: Option<&str>,
        domain_uuid: Option<&str>,
        project_uuid: Option<&str>,
        only: Option<ResourceType>,
    ) -> Result<Vec<LimitView>> {
        let (account, domain) = self
            .limit_target(caller, account, domain_uuid, project_uuid)
            .await?;
        let (limits, project) = match &account {
            Some(a) => {
                let (kind, unlimited, project) = self.account_kind(a).await?;
                (
                    self.limits_of(LimitOwner::Account(a.id), kind, unlimited)
                        .await?,
                    project,
                )
            }
            None => (
                self.limits_of(
                    LimitOwner::Domain(domain.id),
                    Kind::Domain,
                    domain.path == "/",
                )
                .await?,
                None,
            ),
        };
        Ok(limits
            .into_iter()
            .filter(|(t, _)| only.is_none_or(|o| o == *t))
            .map(|(t, max)| LimitView {
                resource_type: t,
                max,
                account: account.clone(),
                domain: domain.clone(),
                project: project.clone(),
            })
            .collect())
    }

    /// `updateResourceLimit`: root administrators anywhere; domain administrators for
    /// accounts and domains strictly below their own domain (never their own limits).
    pub async fn limit_update(
        &self,
        caller: &Caller,
        t: ResourceType,
        max: i64,
        account: Option<&str>,
        domain_uuid: Option<&str>,
        project_uuid: Option<&str>,
    ) -> Result<LimitView> {
        if max < -1 {
            return Err(Error::invalid_param(
                "max must be -1 (unlimited) or a number of resources",
            ));
        }
        let (account, domain) = self
            .limit_target(caller, account, domain_uuid, project_uuid)
            .await?;
        if !caller.is_root_admin() {
            let below = caller.role_type() == RoleType::DomainAdmin
                && domain.path.starts_with(&caller.domain.path)
                && (domain.id != caller.domain.id
                    || account.as_ref().is_some_and(|a| a.id != caller.account.id));
            if !below {
                return Err(Error::denied(format!(
                    "Account {} may not change the limits of its own domain or account",
                    caller.account.name
                )));
            }
        }
        if account.is_none() && domain.path == "/" {
            return Err(Error::invalid_param("The ROOT domain has no limits"));
        }
        let owner = match &account {
            Some(a) => LimitOwner::Account(a.id),
            None => LimitOwner::Domain(domain.id),
        };
        self.store
            .resource_limit_set(&ids::new_uuid(), owner, t.number(), max)
            .await?;
        self.event(
            Some(caller),
            "RESOURCE.LIMIT.UPDATE",
            &format!(
                "Limit of {} for {} set to {max}",
                t.name(),
                account.as_ref().map_or_else(
                    || format!("domain {}", domain.name),
                    |a| format!("account {}", a.name)
                )
            ),
            None,
        )
        .await;
        let project = match &account {
            Some(a) => self.account_kind(a).await?.2,
            None => None,
        };
        Ok(LimitView {
            resource_type: t,
            max,
            account,
            domain,
            project,
        })
    }

    /// `updateResourceCount`: the counts of an account (or project) or a domain, recounted
    /// from the resources.
    pub async fn resource_count_list(
        &self,
        caller: &Caller,
        account: Option<&str>,
        domain_uuid: &str,
        project_uuid: Option<&str>,
        only: Option<ResourceType>,
    ) -> Result<(
        Option<Account>,
        Domain,
        Option<(String, String)>,
        Vec<(ResourceType, i64)>,
    )> {
        let (account, domain) = self
            .limit_target(caller, account, Some(domain_uuid), project_uuid)
            .await?;
        if caller.role_type() == RoleType::User {
            return Err(Error::denied("users may not recount resources"));
        }
        let (counts, project) = match &account {
            Some(a) => (
                self.store
                    .resource_counts(CountScope::Account(a.id))
                    .await?,
                self.account_kind(a).await?.2,
            ),
            None => (
                self.store
                    .resource_counts(CountScope::Domain(&domain.path))
                    .await?,
                None,
            ),
        };
        let items = ResourceType::ALL
            .into_iter()
            .filter(|t| only.is_none_or(|o| o == *t))
            .map(|t| (t, counts.get(t)))
            .collect();
        Ok((account, domain, project, items))
    }
}

fn exceeded(
    limits: &[(ResourceType, i64)],
    counts: &ResourceCounts,
    wants: &[(ResourceType, i64)],
) -> Option<ResourceType> {
    wants.iter().find_map(|(t, n)| {
        let max = limits.iter().find(|(x, _)| x == t).map_or(-1, |(_, m)| *m);
        (*n > 0 && max >= 0 && counts.get(*t) + n > max).then_some(*t)
    })
}

fn usage(limits: &[(ResourceType, i64)], counts: &ResourceCounts) -> Usage {
    Usage {
        entries: limits
            .iter()
            .map(|(t, max)| (*t, *max, counts.get(*t)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_want_past_a_limit_is_named_and_unlimited_never_is() {
        let limits = [
            (ResourceType::UserVm, 2),
            (ResourceType::Cpu, -1),
            (ResourceType::Memory, 1024),
        ];
        let counts = ResourceCounts {
            user_vms: 2,
            cpus: 1_000,
            memory: 512,
            ..Default::default()
        };
        assert_eq!(
            exceeded(&limits, &counts, &[(ResourceType::UserVm, 1)]),
            Some(ResourceType::UserVm)
        );
        assert_eq!(exceeded(&limits, &counts, &[(ResourceType::Cpu, 64)]), None);
        assert_eq!(
            exceeded(&limits, &counts, &[(ResourceType::Memory, 512)]),
            None
        );
        assert_eq!(
            exceeded(&limits, &counts, &[(ResourceType::Memory, 513)]),
            Some(ResourceType::Memory)
        );
        assert_eq!(
            exceeded(&limits, &counts, &[(ResourceType::UserVm, 0)]),
            None
        );
        let u = usage(&limits, &counts).fields();
        assert_eq!(u["vmlimit"], "2");
        assert_eq!(u["vmavailable"], "0");
        assert_eq!(u["vmtotal"], 2);
        assert_eq!(u["cpulimit"], "Unlimited");
        assert_eq!(u["memoryavailable"], "512");
    }
}
