//! Dynamic roles as upstream: roles beyond the four defaults, each with an ordered list of
//! allow/deny rules over the command catalog (`createRole`, `updateRole`, `deleteRole`,
//! `importRole`, `listRolePermissions`, `createRolePermission`, `updateRolePermission`,
//! `deleteRolePermission`), and the check every request passes ([`App::api_allowed`]).
//!
//! Evaluation: the rules of the caller's role in their order; the first whose pattern matches
//! the command decides (allow or deny); when none matches, the command's role types in the
//! catalog decide. Default roles have no rules (theirs cannot be edited), so they behave exactly
//! as the catalog says. Only root administrators manage roles — a rule that lets another role
//! call a role command still meets that check, so no role can grant itself more.

use trellis_api::catalog::{Command, COMMANDS};
use trellis_model::entity::{Role, RolePermission};
use trellis_model::role::{rule_is_well_formed, verdict, Permission};
use trellis_model::{ids, time::now_millis, Error, Result, RoleType};
use trellis_store::RoleChanges;

use super::{App, Caller};

/// Input of `createRole`.
#[derive(Debug, Clone, Default)]
pub struct RoleCreate {
    pub name: String,
    pub role_type: Option<String>,
    /// `roleid`: clone this role, its type and its rules.
    pub clone_of: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

/// Input of `updateRole`.
#[derive(Debug, Clone, Default)]
pub struct RoleUpdate {
    pub name: Option<String>,
    pub role_type: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

/// One rule of `importRole` or `createRolePermission`, as given.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub rule: String,
    pub permission: String,
    pub description: Option<String>,
}

/// Input of `importRole`.
#[derive(Debug, Clone, Default)]
pub struct RoleImport {
    pub name: String,
    pub role_type: String,
    pub rules: Vec<RuleInput>,
    pub description: Option<String>,
    pub forced: bool,
    pub is_public: Option<bool>,
}

fn require_root(caller: &Caller) -> Result<()> {
    if caller.is_root_admin() {
        return Ok(());
    }
    Err(Error::denied(format!(
        "Account {} may not manage roles: only root administrators can",
        caller.account.name
    )))
}

fn parse_type(t: &str) -> Result<RoleType> {
    RoleType::ALL
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(t))
        .ok_or_else(|| {
            Error::invalid_param(format!(
                "Invalid role type {t}: use Admin, ResourceAdmin, DomainAdmin or User"
            ))
        })
}

/// A rule as stored: checked against upstream's grammar and, without a wildcard, against the
/// catalog (stored with the catalog's spelling).
fn checked_rule(r: &RuleInput) -> Result<(String, Permission, String)> {
    let rule = r.rule.trim();
    if !rule_is_well_formed(rule) {
        return Err(Error::invalid_param(format!(
            "Only API names and wildcards are allowed, invalid rule provided: {rule}"
        )));
    }
    let rule = if rule.contains('*') {
        rule.to_string()
    } else {
        COMMANDS
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(rule))
            .map(|c| c.name.to_string())
            .ok_or_else(|| Error::invalid_param(format!("Invalid api name: {rule} provided")))?
    };
    let permission = Permission::parse(&r.permission).ok_or_else(|| {
        Error::invalid_param(format!(
            "Invalid permission {}: use allow or deny",
            r.permission
        ))
    })?;
    Ok((rule, permission, r.description.clone().unwrap_or_default()))
}

fn editable(role: &Role) -> Result<()> {
    if role.is_default {
        return Err(Error::invalid_param(format!(
            "{} is a default role: its name, type and permissions cannot be changed (clone it with createRole roleid=…)",
            role.name
        )));
    }
    Ok(())
}

impl App {
    /// May `caller` call `cmd`? Its role's rules first, then the catalog's role types.
    pub async fn api_allowed(&self, caller: &Caller, cmd: &Command) -> Result<bool> {
        if caller.role.is_default {
            return Ok(cmd.allows(caller.role_type()));
        }
        let rules = self.store.role_permissions(caller.role.id).await?;
        Ok(
            match verdict(
                rules.iter().map(|r| (r.rule.as_str(), r.permission)),
                cmd.name,
            ) {
                Some(p) => p == Permission::Allow,
                None => cmd.allows(caller.role_type()),
            },
        )
    }

    /// Every catalog command `caller` may call (`listApis`).
    pub async fn apis_allowed(&self, caller: &Caller) -> Result<Vec<&'static Command>> {
        let mut out = Vec::new();
        for c in COMMANDS {
            if self.api_allowed(caller, c).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn role_named(&self, name: &str) -> Result<Option<Role>> {
        Ok(self
            .store
            .role_list()
            .await?
            .into_iter()
            .find(|r| r.name.eq_ignore_ascii_case(name)))
    }

    /// A live role by uuid.
    pub async fn role_by_uuid(&self, uuid: &str) -> Result<Role> {
        self.store
            .role_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find role by id {uuid}")))
    }

    /// `createRole`: a new role of a type, or a clone of an existing role with its rules.
    pub async fn role_create(&self, caller: &Caller, input: RoleCreate) -> Result<Role> {
        require_root(caller)?;
        let name = input.name.trim();
        if name.is_empty() {
            return Err(Error::invalid_param("Role name must not be empty"));
        }
        let (role_type, rules) = match (input.role_type.as_deref(), input.clone_of.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_param(
                    "Parameters type and roleid are mutually exclusive",
                ))
            }
            (None, None) => {
                return Err(Error::invalid_param("Either type or roleid must be passed"))
            }
            (Some(t), None) => (parse_type(t)?, Vec::new()),
            (None, Some(u)) => {
                let source = self.role_by_uuid(u).await?;
                let rules = self.store.role_permissions(source.id).await?;
                (source.role_type, rules)
            }
        };
        if self.role_named(name).await?.is_some() {
            return Err(Error::invalid_param(format!(
                "A role named {name} already exists"
            )));
        }
        let mut role = self
            .store
            .role_create(
                &ids::new_uuid(),
                name,
                role_type,
                input.description.as_deref().unwrap_or(""),
                false,
            )
            .await?;
        if input.is_public == Some(false) {
            let c = RoleChanges {
                is_public: Some(false),
                ..Default::default()
            };
            role = self.store.role_update(role.id, &c).await?.unwrap_or(role);
        }
        let copies: Vec<_> = rules
            .into_iter()
            .map(|r| (ids::new_uuid(), r.rule, r.permission, r.description))
            .collect();
        self.store.role_permissions_append(role.id, &copies).await?;
        self.event(
            Some(caller),
            "ROLE.CREATE",
            &format!("Role {} created", role.name),
            Some(("Role", &role.uuid)),
        )
        .await;
        Ok(role)
    }

    /// `updateRole`. A default role keeps its name and type; the type changes only while no
    /// account has the role.
    pub async fn role_update(&self, caller: &Caller, uuid: &str, u: RoleUpdate) -> Result<Role> {
        require_root(caller)?;
        let role = self.role_by_uuid(uuid).await?;
        let mut c = RoleChanges {
            description: u.description,
            is_public: u.is_public,
            ..Default::default()
        };
        if let Some(name) = u
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| *n != role.name)
        {
            editable(&role)?;
            if name.is_empty() {
                return Err(Error::invalid_param("Role name must not be empty"));
            }
            if self
                .role_named(&name)
                .await?
                .is_some_and(|r| r.id != role.id)
            {
                return Err(Error::invalid_param(format!(
                    "A role named {name} already exists"
                )));
            }
            c.name = Some(name);
        }
        if let Some(t) = u.role_type.as_deref() {
            let t = parse_type(t)?;
            if t != role.role_type {
                editable(&role)?;
                let n = self.store.role_account_count(role.id).await?;
                if n > 0 {
                    return Err(Error::invalid_param(format!(
                        "The type of role {} cannot change while {n} accounts have it",
                        role.name
                    )));
                }
                c.role_type = Some(t);
            }
        }
        let updated = self
            .store
            .role_update(role.id, &c)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find role by id {uuid}")))?;
        self.auth_cache_clear();
        self.event(
            Some(caller),
            "ROLE.UPDATE",
            &format!("Role {} updated", updated.name),
            Some(("Role", &updated.uuid)),
        )
        .await;
        Ok(updated)
    }

    /// `deleteRole`: never a default role, nor one an account still has.
    pub async fn role_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        require_root(caller)?;
        let role = self.role_by_uuid(uuid).await?;
        if role.is_default {
            return Err(Error::invalid_param(format!(
                "{} is a default role and cannot be deleted",
                role.name
            )));
        }
        let n = self.store.role_account_count(role.id).await?;
        if n > 0 {
            return Err(Error::invalid_param(format!(
                "Role {} is in use by {n} accounts: give them another role first",
                role.name
            )));
        }
        self.store.role_delete(role.id, now_millis()).await?;
        self.event(
            Some(caller),
            "ROLE.DELETE",
            &format!("Role {} deleted", role.name),
            Some(("Role", &role.uuid)),
        )
        .await;
        Ok(())
    }

    /// `listRolePermissions`: the rules of one role, or of every role, each with its role.
    pub async fn role_permission_list(
        &self,
        caller: &Caller,
        role_uuid: Option<&str>,
    ) -> Result<Vec<(RolePermission, Role)>> {
        require_root(caller)?;
        let roles = match role_uuid {
            Some(u) => vec![self.role_by_uuid(u).await?],
            None => self.store.role_list().await?,
        };
        let mut out = Vec::new();
        for role in roles {
            for p in self.store.role_permissions(role.id).await? {
                out.push((p, role.clone()));
            }
        }
        Ok(out)
    }

    /// `createRolePermission`: a rule appended at the end of the role's order.
    pub async fn role_permission_create(
        &self,
        caller: &Caller,
        role_uuid: &str,
        rule: RuleInput,
    ) -> Result<(RolePermission, Role)> {
        require_root(caller)?;
        let role = self.role_by_uuid(role_uuid).await?;
        editable(&role)?;
        let (rule, permission, description) = checked_rule(&rule)?;
        let made = self
            .store
            .role_permissions_append(
                role.id,
                &[(ids::new_uuid(), rule.clone(), permission, description)],
            )
            .await?;
        let p = made
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("role permission not created"))?;
        self.event(
            Some(caller),
            "ROLE.PERMISSION.CREATE",
            &format!(
                "Rule {rule} ({}) added to role {}",
                permission.as_str(),
                role.name
            ),
            Some(("Role", &role.uuid)),
        )
        .await;
        Ok((p, role))
    }

    /// `updateRolePermission`: either a complete new order (`ruleorder`), or one rule's
    /// permission (`ruleid` with `permission`).
    pub async fn role_permission_update(
        &self,
        caller: &Caller,
        role_uuid: &str,
        order: Option<Vec<String>>,
        rule_uuid: Option<&str>,
        permission: Option<&str>,
    ) -> Result<()> {
        require_root(caller)?;
        let role = self.role_by_uuid(role_uuid).await?;
        editable(&role)?;
        let current = self.store.role_permissions(role.id).await?;
        match (order, rule_uuid, permission) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::invalid_param(
                "Parameters permission and ruleid must be mutually exclusive with ruleorder",
            )),
            (Some(order), None, None) => {
                let mut ids = Vec::with_capacity(order.len());
                for u in &order {
                    let p = current.iter().find(|p| p.uuid == *u).ok_or_else(|| {
                        Error::invalid_param("Provided role permission(s) do not exist")
                    })?;
                    if ids.contains(&p.id) {
                        return Err(Error::invalid_param(format!(
                            "Role permission {u} is listed twice in ruleorder"
                        )));
                    }
                    ids.push(p.id);
                }
                if ids.len() != current.len() {
                    return Err(Error::invalid_param(format!(
                        "ruleorder must list every permission of role {} exactly once ({} given, {} exist)",
                        role.name,
                        ids.len(),
                        current.len()
                    )));
                }
                self.store.role_permissions_reorder(role.id, &ids).await?;
                self.event(
                    Some(caller),
                    "ROLE.PERMISSION.UPDATE",
                    &format!("Rules of role {} reordered", role.name),
                    Some(("Role", &role.uuid)),
                )
                .await;
                Ok(())
            }
            (None, Some(r), Some(perm)) => {
                let p = current.iter().find(|p| p.uuid == r).ok_or_else(|| {
                    Error::invalid_param("Provided role permission(s) do not exist")
                })?;
                let perm = Permission::parse(perm).ok_or_else(|| {
                    Error::invalid_param(format!("Invalid permission {perm}: use allow or deny"))
                })?;
                self.store.role_permission_set(p.id, perm).await?;
                self.event(
                    Some(caller),
                    "ROLE.PERMISSION.UPDATE",
                    &format!(
                        "Rule {} of role {} set to {}",
                        p.rule,
                        role.name,
                        perm.as_str()
                    ),
                    Some(("Role", &role.uuid)),
                )
                .await;
                Ok(())
            }
            _ => Err(Error::invalid_param(
                "Either ruleorder, or ruleid with permission, must be given",
            )),
        }
    }

    /// `deleteRolePermission`.
    pub async fn role_permission_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        require_root(caller)?;
        let p = self
            .store
            .role_permission_by_uuid(uuid)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("Unable to find role permission by id {uuid}"))
            })?;
        let role = self
            .store
            .role_get(p.role_id)
            .await?
            .ok_or_else(|| Error::internal("role permission without role"))?;
        editable(&role)?;
        self.store.role_permission_delete(p.id).await?;
        self.event(
            Some(caller),
            "ROLE.PERMISSION.DELETE",
            &format!("Rule {} removed from role {}", p.rule, role.name),
            Some(("Role", &role.uuid)),
        )
        .await;
        Ok(())
    }

    /// `importRole`: a role with its rules in one step; with `forced`, a role of the same name
    /// (not a default one) has its type, description and rules replaced. Every rule is checked
    /// before anything is written.
    pub async fn role_import(&self, caller: &Caller, input: RoleImport) -> Result<Role> {
        require_root(caller)?;
        let name = input.name.trim();
        if name.is_empty() {
            return Err(Error::invalid_param("Role name must not be empty"));
        }
        let role_type = parse_type(&input.role_type)?;
        if input.rules.is_empty() {
            return Err(Error::invalid_param("Rules must be given"));
        }
        let mut rules = Vec::with_capacity(input.rules.len());
        for r in &input.rules {
            let (rule, permission, description) = checked_rule(r)?;
            rules.push((ids::new_uuid(), rule, permission, description));
        }
        let role = match self.role_named(name).await? {
            Some(existing) if !input.forced => {
                return Err(Error::invalid_param(format!(
                    "Role {} already exists: import with forced=true to replace it",
                    existing.name
                )))
            }
            Some(existing) => {
                editable(&existing)?;
                if existing.role_type != role_type {
                    let n = self.store.role_account_count(existing.id).await?;
                    if n > 0 {
                        return Err(Error::invalid_param(format!(
                            "The type of role {} cannot change while {n} accounts have it",
                            existing.name
                        )));
                    }
                }
                let c = RoleChanges {
                    role_type: Some(role_type),
                    description: input.description.clone(),
                    is_public: input.is_public,
                    ..Default::default()
                };
                let r = self
                    .store
                    .role_update(existing.id, &c)
                    .await?
                    .ok_or_else(|| Error::not_found(format!("Unable to find role {name}")))?;
                self.store.role_permissions_clear(r.id).await?;
                r
            }
            None => {
                let mut r = self
                    .store
                    .role_create(
                        &ids::new_uuid(),
                        name,
                        role_type,
                        input.description.as_deref().unwrap_or(""),
                        false,
                    )
                    .await?;
                if input.is_public == Some(false) {
                    let c = RoleChanges {
                        is_public: Some(false),
                        ..Default::default()
                    };
                    r = self.store.role_update(r.id, &c).await?.unwrap_or(r);
                }
                r
            }
        };
        self.store.role_permissions_append(role.id, &rules).await?;
        self.auth_cache_clear();
        self.event(
            Some(caller),
            "ROLE.IMPORT",
            &format!("Role {} imported with {} rules", role.name, rules.len()),
            Some(("Role", &role.uuid)),
        )
        .await;
        Ok(role)
    }
}
