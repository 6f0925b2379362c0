//! Projects (`createProject`, `listProjects`, `updateProject`, `deleteProject`,
//! `activateProject`, `suspendProject`, `addAccountToProject`, `deleteAccountFromProject`,
//! `listProjectAccounts`) and the membership rules the owner checks use.
//!
//! A project owns its resources through a hidden project account made with it; member accounts
//! create and use them (`projectid` on deploy and list commands, see `ownership.rs`). Admin
//! members, and administrators of the project's domain, manage the project and its members.
//! Members are added directly (no invitations). A suspended project refuses new resources and
//! keeps the ones it has running.

use trellis_model::entity::{Account, Project, ProjectMember};
use trellis_model::instance::VmState;
use trellis_model::limits::ResourceType;
use trellis_model::project::{ProjectRole, ProjectState};
use trellis_model::{ids, time::now_millis, Error, Result, RoleType};
use trellis_store::{InstanceFilter, Page, ProjectFilter};

use super::ownership::{administers, OwnerInput};
use super::{App, Caller};

/// Input of `createProject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProjectCreate {
    pub name: String,
    pub display_text: Option<String>,
    /// `account` + `domainid`: an administrator creating for another account, its first admin.
    pub account: Option<String>,
    pub domain_uuid: Option<String>,
}

/// `listProjects`: the filters and the owner scope.
#[derive(Debug, Clone, Default)]
pub struct ProjectQuery {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub display_text: Option<String>,
    pub state: Option<String>,
    pub keyword: Option<String>,
    pub owner: OwnerInput,
    pub recursive: bool,
    pub list_all: bool,
}

/// What a project's view shows besides the row: its domain, admins and usage.
#[derive(Debug, Clone, Default)]
pub struct ProjectView {
    pub project: Option<Project>,
    pub domain_uuid: String,
    pub domain: String,
    pub owners: Vec<String>,
    pub account_name: String,
    pub vm_total: i64,
    pub vm_running: i64,
    pub vm_stopped: i64,
    pub cpu_total: i64,
    pub memory_total: i64,
    /// Limits, totals and availability of every counted resource type.
    pub usage: super::limits::Usage,
}

/// One member row of `listProjectAccounts`.
#[derive(Debug, Clone)]
pub struct ProjectMemberView {
    pub member: ProjectMember,
    pub account: Account,
    pub domain_uuid: String,
    pub domain: String,
}

impl App {
    /// A live project the caller is a member of, or whose domain it administers.
    pub async fn project_for(&self, caller: &Caller, uuid: &str) -> Result<Project> {
        let p =
            self.store.project_by_uuid(uuid).await?.ok_or_else(|| {
                Error::invalid_param(format!("Unable to find project by id {uuid}"))
            })?;
        if self.project_role(&p, caller.account.id).await?.is_some()
            || self.administers_domain(caller, p.domain_id).await?
        {
            return Ok(p);
        }
        Err(Error::denied(format!(
            "Account {} does not have access to project {}",
            caller.account.name, p.name
        )))
    }

    async fn administers_domain(&self, caller: &Caller, domain_id: i64) -> Result<bool> {
        if caller.role_type() == RoleType::User {
            return Ok(false);
        }
        Ok(self
            .store
            .domain_get(domain_id)
            .await?
            .is_some_and(|d| administers(caller, &d)))
    }

    async fn project_role(&self, p: &Project, account_id: i64) -> Result<Option<ProjectRole>> {
        Ok(self
            .store
            .project_members(p.id)
            .await?
            .into_iter()
            .find(|m| m.account_id == account_id)
            .map(|m| m.role))
    }

    /// May the caller manage the project (its settings and members)?
    async fn project_manage_check(&self, caller: &Caller, p: &Project) -> Result<()> {
        if self.project_role(p, caller.account.id).await? == Some(ProjectRole::Admin)
            || self.administers_domain(caller, p.domain_id).await?
        {
            return Ok(());
        }
        Err(Error::denied(format!(
            "Account {} is not an admin of project {}",
            caller.account.name, p.name
        )))
    }

    /// Is `account_id` the account of a project the caller is a member of?
    pub(crate) async fn is_project_member(&self, caller: &Caller, account_id: i64) -> Result<bool> {
        Ok(self
            .store
            .project_accounts_of_member(caller.account.id)
            .await?
            .contains(&account_id))
    }

    /// The project accounts `projectid=-1` covers: every project of the root administrator,
    /// a domain administrator's subtree and the caller's own memberships.
    pub(crate) async fn project_accounts_visible(&self, caller: &Caller) -> Result<Vec<i64>> {
        let mut out = self
            .store
            .project_accounts_of_member(caller.account.id)
            .await?;
        if caller.role_type() != RoleType::User {
            let f = ProjectFilter {
                domain_path: (!caller.is_root_admin()).then(|| caller.domain.path.clone()),
                ..ProjectFilter::default()
            };
            for p in self.store.project_list(&f, Page::all()).await?.0 {
                if !out.contains(&p.account_id) {
                    out.push(p.account_id);
                }
            }
        }
        Ok(out)
    }

    /// Request-time checks of `createProject`: the name, the first admin.
    pub async fn project_create_check(
        &self,
        caller: &Caller,
        input: &ProjectCreate,
    ) -> Result<Account> {
        let owner = OwnerInput {
            account: input.account.clone(),
            domain_uuid: input.domain_uuid.clone(),
            project_uuid: None,
        };
        let admin = self.owner_account(caller, &owner).await?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(Error::invalid_param(
                "Project name must be 1 to 255 characters",
            ));
        }
        if self
            .store
            .project_by_name(admin.domain_id, name)
            .await?
            .is_some()
        {
            return Err(Error::invalid_param(format!(
                "Project with name {name} already exists in domain"
            )));
        }
        Ok(admin)
    }

    /// `createProject`, the job.
    pub async fn project_create(&self, caller: &Caller, input: &ProjectCreate) -> Result<Project> {
        let admin = self.project_create_check(caller, input).await?;
        let name = input.name.trim().to_string();
        let uuid = ids::new_uuid();
        let row = Project {
            id: 0,
            display_text: input
                .display_text
                .clone()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| name.clone()),
            account_id: 0,
            domain_id: admin.domain_id,
            state: ProjectState::Active,
            created: now_millis(),
            removed: None,
            uuid: uuid.clone(),
            name: name.clone(),
        };
        let role = self.default_role(RoleType::User).await?;
        let account_name = format!("PrjAcct-{name}-{}", &uuid[..8]);
        let _limits = self
            .limits_reserve(&admin, &[(ResourceType::Project, 1)])
            .await?;
        let (project, _) = self
            .store
            .project_create(&row, &account_name, role.id, admin.id)
            .await?;
        self.event(
            Some(caller),
            "PROJECT.CREATE",
            &format!("Project {name} created with admin account {}", admin.name),
            Some(("Project", &project.uuid)),
        )
        .await;
        Ok(project)
    }

    /// `listProjects`: members see their projects; administrators with `listall` their subtree.
    pub async fn project_list(
        &self,
        caller: &Caller,
        q: &ProjectQuery,
        page: Page,
    ) -> Result<(Vec<Project>, i64)> {
        let state = match &q.state {
            Some(s) => Some(ProjectState::parse(s).ok_or_else(|| {
                Error::invalid_param(format!(
                    "Invalid project state {s}: use Active or Suspended"
                ))
            })?),
            None => None,
        };
        let mut f = ProjectFilter {
            uuid: q.uuid.clone(),
            name: q.name.clone(),
            display_text: q.display_text.clone(),
            state,
            keyword: q.keyword.clone(),
            ..ProjectFilter::default()
        };
        match (&q.owner.account, &q.owner.domain_uuid) {
            (Some(name), Some(domain)) => {
                f.member_account_id =
                    Some(self.owner_account_named(caller, name, domain).await?.id);
            }
            (Some(_), None) => {
                return Err(Error::invalid_param(
                    "account and domainid must be given together",
                ))
            }
            (None, Some(domain)) => {
                let d = self.owner_domain(domain).await?;
                if !administers(caller, &d) {
                    f.member_account_id = Some(caller.account.id);
                }
                if q.recursive {
                    f.domain_path = Some(d.path);
                } else {
                    f.domain_id = Some(d.id);
                }
            }
            (None, None) => {
                if q.list_all && caller.role_type() != RoleType::User {
                    if !caller.is_root_admin() {
                        f.domain_path = Some(caller.domain.path.clone());
                    }
                } else {
                    f.member_account_id = Some(caller.account.id);
                }
            }
        }
        Ok(self.store.project_list(&f, page).await?)
    }

    /// `updateProject`: new name or display text.
    pub async fn project_update(
        &self,
        caller: &Caller,
        uuid: &str,
        name: Option<&str>,
        display_text: Option<&str>,
    ) -> Result<Project> {
        let mut p = self.project_for(caller, uuid).await?;
        self.project_manage_check(caller, &p).await?;
        if let Some(n) = name.map(str::trim) {
            if n.is_empty() || n.chars().count() > 255 {
                return Err(Error::invalid_param(
                    "Project name must be 1 to 255 characters",
                ));
            }
            if let Some(other) = self.store.project_by_name(p.domain_id, n).await? {
                if other.id != p.id {
                    return Err(Error::invalid_param(format!(
                        "Project with name {n} already exists in domain"
                    )));
                }
            }
            p.name = n.to_string();
        }
        if let Some(d) = display_text {
            p.display_text = d.to_string();
        }
        self.store.project_update(&p).await?;
        self.event(
            Some(caller),
            "PROJECT.UPDATE",
            &format!("Project {} updated", p.name),
            Some(("Project", &p.uuid)),
        )
        .await;
        Ok(p)
    }

    /// `activateProject` / `suspendProject`.
    pub async fn project_set_state(
        &self,
        caller: &Caller,
        uuid: &str,
        state: ProjectState,
    ) -> Result<Project> {
        let mut p = self.project_for(caller, uuid).await?;
        self.project_manage_check(caller, &p).await?;
        if p.state == state {
            return Ok(p);
        }
        p.state = state;
        self.store.project_update(&p).await?;
        let what = match state {
            ProjectState::Active => "PROJECT.ACTIVATE",
            ProjectState::Suspended => "PROJECT.SUSPEND",
        };
        self.event(
            Some(caller),
            what,
            &format!("Project {} is {}", p.name, state.as_str()),
            Some(("Project", &p.uuid)),
        )
        .await;
        Ok(p)
    }

    /// The project's instances that are not expunged.
    async fn project_instances(&self, p: &Project) -> Result<Vec<trellis_model::entity::Instance>> {
        let f = InstanceFilter {
            account_id: Some(p.account_id),
            include_destroyed: true,
            ..InstanceFilter::default()
        };
        Ok(self.store.instance_list(&f, Page::all()).await?.0)
    }

    /// Request-time checks of `deleteProject`: without `cleanup`, the project must own no
    /// instances.
    pub async fn project_delete_check(
        &self,
        caller: &Caller,
        uuid: &str,
        cleanup: bool,
    ) -> Result<Project> {
        let p = self.project_for(caller, uuid).await?;
        self.project_manage_check(caller, &p).await?;
        let owned = self.project_instances(&p).await?;
        if !cleanup && !owned.is_empty() {
            return Err(Error::invalid_param(format!(
                "Project {} still owns {} instances: expunge them first, or delete with cleanup=true",
                p.name,
                owned.len()
            )));
        }
        // A cleanup never stops half-way on a protected instance.
        for inst in &owned {
            self.delete_protection_check(inst).await?;
        }
        Ok(p)
    }

    /// `deleteProject`, the job: with `cleanup`, its instances are destroyed and expunged first
    /// (through their extensions); then its key pairs, affinity groups, members and account go.
    pub async fn project_delete(&self, caller: &Caller, uuid: &str, cleanup: bool) -> Result<()> {
        let p = self.project_delete_check(caller, uuid, cleanup).await?;
        for inst in self.project_instances(&p).await? {
            self.instance_destroy(caller, &inst.uuid, true).await?;
        }
        self.store
            .ssh_keypair_delete_for_account(p.account_id)
            .await?;
        self.store
            .affinity_group_delete_for_account(p.account_id)
            .await?;
        self.store.project_delete(p.id, now_millis()).await?;
        self.event(
            Some(caller),
            "PROJECT.DELETE",
            &format!("Project {} deleted", p.name),
            Some(("Project", &p.uuid)),
        )
        .await;
        Ok(())
    }

    /// The account `name` of the project's domain, for membership changes.
    async fn project_account_named(&self, p: &Project, name: &str) -> Result<Account> {
        self.store
            .account_by_name(p.domain_id, name)
            .await?
            .filter(|a| a.id != p.account_id)
            .ok_or_else(|| {
                Error::invalid_param(format!(
                    "Unable to find account {name} in the domain of project {}",
                    p.name
                ))
            })
    }

    /// `addAccountToProject`: add a member directly (no invitations).
    pub async fn project_member_add(
        &self,
        caller: &Caller,
        uuid: &str,
        account: &str,
        role: ProjectRole,
    ) -> Result<()> {
        let p = self.project_for(caller, uuid).await?;
        self.project_manage_check(caller, &p).await?;
        let a = self.project_account_named(&p, account).await?;
        if self.project_role(&p, a.id).await?.is_some() {
            return Err(Error::invalid_param(format!(
                "Account {} is already a member of project {}",
                a.name, p.name
            )));
        }
        let m = ProjectMember {
            project_id: p.id,
            account_id: a.id,
            role,
            created: now_millis(),
        };
        self.store.project_member_add(&m).await?;
        self.event(
            Some(caller),
            "PROJECT.ACCOUNT.ADD",
            &format!(
                "Account {} added to project {} as {}",
                a.name,
                p.name,
                role.as_str()
            ),
            Some(("Project", &p.uuid)),
        )
        .await;
        Ok(())
    }

    /// `deleteAccountFromProject`: the last admin cannot leave.
    pub async fn project_member_remove(
        &self,
        caller: &Caller,
        uuid: &str,
        account: &str,
    ) -> Result<()> {
        let p = self.project_for(caller, uuid).await?;
        self.project_manage_check(caller, &p).await?;
        let a = self.project_account_named(&p, account).await?;
        let members = self.store.project_members(p.id).await?;
        let Some(m) = members.iter().find(|m| m.account_id == a.id) else {
            return Err(Error::invalid_param(format!(
                "Account {} is not a member of project {}",
                a.name, p.name
            )));
        };
        let admins = members
            .iter()
            .filter(|m| m.role == ProjectRole::Admin)
            .count();
        if m.role == ProjectRole::Admin && admins == 1 {
            return Err(Error::invalid_param(format!(
                "Account {} is the last admin of project {}: make another account admin first",
                a.name, p.name
            )));
        }
        self.store.project_member_remove(p.id, a.id).await?;
        self.event(
            Some(caller),
            "PROJECT.ACCOUNT.REMOVE",
            &format!("Account {} removed from project {}", a.name, p.name),
            Some(("Project", &p.uuid)),
        )
        .await;
        Ok(())
    }

    /// `listProjectAccounts`: the members, for members and administrators.
    pub async fn project_member_list(
        &self,
        caller: &Caller,
        uuid: &str,
        account: Option<&str>,
        role: Option<ProjectRole>,
    ) -> Result<Vec<ProjectMemberView>> {
        let p = self.project_for(caller, uuid).await?;
        let mut out = Vec::new();
        for m in self.store.project_members(p.id).await? {
            if role.is_some_and(|r| r != m.role) {
                continue;
            }
            let Some(a) = self.store.account_get(m.account_id).await? else {
                continue;
            };
            if account.is_some_and(|n| !n.eq_ignore_ascii_case(&a.name)) {
                continue;
            }
            let d = self.store.domain_get(a.domain_id).await?;
            out.push(ProjectMemberView {
                member: m,
                account: a,
                domain_uuid: d.as_ref().map(|d| d.uuid.clone()).unwrap_or_default(),
                domain: d.map(|d| d.name).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// A project with what its view shows.
    pub async fn project_view(&self, p: &Project) -> Result<ProjectView> {
        let d = self.store.domain_get(p.domain_id).await?;
        let mut owners = Vec::new();
        for m in self.store.project_members(p.id).await? {
            if m.role == ProjectRole::Admin {
                if let Some(a) = self.store.account_get(m.account_id).await? {
                    owners.push(a.name);
                }
            }
        }
        let mut v = ProjectView {
            project: Some(p.clone()),
            domain_uuid: d.as_ref().map(|d| d.uuid.clone()).unwrap_or_default(),
            domain: d.map(|d| d.name).unwrap_or_default(),
            owners,
            account_name: self
                .store
                .account_get(p.account_id)
                .await?
                .map(|a| a.name)
                .unwrap_or_default(),
            ..ProjectView::default()
        };
        if let Some(a) = self.store.account_get(p.account_id).await? {
            v.usage = self.account_usage(&a).await?;
        }
        for inst in self.project_instances(p).await? {
            if matches!(inst.state, VmState::Destroyed | VmState::Expunging) {
                continue;
            }
            v.vm_total += 1;
            match inst.state {
                VmState::Running => v.vm_running += 1,
                VmState::Stopped => v.vm_stopped += 1,
                _ => {}
            }
            if let Some(o) = self.store.offering_get(inst.service_offering_id).await? {
                v.cpu_total += o.cpu_number;
                v.memory_total += o.memory;
            }
        }
        Ok(v)
    }

    /// The project owning `account_id`'s resources, if that account is a project's.
    pub async fn project_of_account(&self, account_id: i64) -> Result<Option<Project>> {
        Ok(self.store.project_by_account(account_id).await?)
    }
}
