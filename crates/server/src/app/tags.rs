//! Resource tags (`createTags`, `deleteTags`, `listTags`): which resource types take tags, how a
//! resource id resolves to its row and owner, who may tag what, and the all-or-nothing writes.

use std::collections::BTreeSet;
use trellis_model::entity::ResourceTag;
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{Page, TagFilter};

use super::{App, Caller};

/// The resource types Trellis accepts in `resourcetype`, in upstream's canonical spelling
/// (`ResourceObjectType`); matched without regard to case (Terraform sends `userVm`).
pub const TAGGABLE: &[&str] = &[
    "UserVm",
    "Template",
    "Volume",
    "Network",
    "Project",
    "Zone",
    "ServiceOffering",
    "DiskOffering",
    "Account",
    "Domain",
    "VMSnapshot",
    "PublicIpAddress",
];

/// The longest key or value a tag may have.
pub const TAG_TEXT_MAX: usize = 255;

/// A resource a tag can be put on: its type, row id, uuid and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taggable {
    pub resource_type: &'static str,
    pub id: i64,
    pub uuid: String,
    pub account_id: Option<i64>,
    pub domain_id: Option<i64>,
}

/// Input of `createTags`/`deleteTags` after the request's own checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRequest {
    pub resource_type: &'static str,
    pub resources: Vec<String>,
    /// `(key, value)`; for `deleteTags` an empty value means "whatever the value".
    pub tags: Vec<(String, String)>,
    pub customer: Option<String>,
}

/// The canonical name of a resource type, or upstream's 431.
pub fn resource_type(name: &str) -> Result<&'static str> {
    TAGGABLE
        .iter()
        .copied()
        .find(|t| t.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| Error::invalid_param(format!("Invalid resource type {name}")))
}

impl App {
    /// The resource `id` of type `resource_type` names, if the caller may tag it.
    pub async fn taggable(
        &self,
        caller: &Caller,
        resource_type: &'static str,
        id: &str,
    ) -> Result<Taggable> {
        let store = &self.store;
        let found = match resource_type {
            "UserVm" => store.instance_by_uuid(id).await?.map(|i| Taggable {
                resource_type,
                id: i.id,
                uuid: i.uuid,
                account_id: Some(i.account_id),
                domain_id: Some(i.domain_id),
            }),
            "Template" => match store.template_by_uuid(id).await? {
                Some(t) => {
                    let domain = store.account_get(t.account_id).await?.map(|a| a.domain_id);
                    Some(Taggable {
                        resource_type,
                        id: t.id,
                        uuid: t.uuid,
                        account_id: Some(t.account_id),
                        domain_id: domain,
                    })
                }
                None => None,
            },
            "Network" => store.network_by_uuid(id).await?.map(|n| Taggable {
                resource_type,
                id: n.id,
                uuid: n.uuid,
                account_id: Some(n.account_id),
                domain_id: Some(n.domain_id),
            }),
            "Volume" => match store.volume_by_uuid(id).await? {
                Some(v) => store
                    .instance_get(v.instance_id)
                    .await?
                    .filter(|i| i.removed.is_none())
                    .map(|i| Taggable {
                        resource_type,
                        id: v.id,
                        uuid: v.uuid,
                        account_id: Some(i.account_id),
                        domain_id: Some(i.domain_id),
                    }),
                None => None,
            },
            "Zone" => store.zone_by_uuid(id).await?.map(|z| Taggable {
                resource_type,
                id: z.id,
                uuid: z.uuid,
                account_id: None,
                domain_id: None,
            }),
            "ServiceOffering" => store.offering_by_uuid(id).await?.map(|o| Taggable {
                resource_type,
                id: o.id,
                uuid: o.uuid,
                account_id: None,
                domain_id: None,
            }),
            "Account" => store.account_by_uuid(id).await?.map(|a| Taggable {
                resource_type,
                id: a.id,
                uuid: a.uuid,
                account_id: Some(a.id),
                domain_id: Some(a.domain_id),
            }),
            "Domain" => store.domain_by_uuid(id).await?.map(|d| Taggable {
                resource_type,
                id: d.id,
                uuid: d.uuid,
                account_id: None,
                domain_id: Some(d.id),
            }),
            // Types Trellis has no objects of yet: every id is unknown.
            _ => None,
        };
        let Some(found) = found else {
            return Err(Error::invalid_param(format!(
                "Unable to find resource by uuid {id} and type {resource_type}"
            )));
        };
        // A project's resources are tagged by the project's members (and administrators of
        // its domain), as they use them.
        let of_my_project = match found.account_id {
            Some(a) if a != caller.account.id && resource_type != "Account" => {
                self.project_accounts_visible(caller).await?.contains(&a)
            }
            _ => false,
        };
        let allowed = caller.is_root_admin()
            || (found.account_id == Some(caller.account.id) && resource_type != "Account")
            || of_my_project;
        if !allowed {
            return Err(Error::denied(format!(
                "Account {} does not have permission to operate on {resource_type} {}",
                caller.account.name, found.uuid
            )));
        }
        Ok(found)
    }

    /// Check a `createTags`/`deleteTags` request before it is queued: the type, every resource,
    /// the caller's access to each, and the pairs (values required when creating).
    pub async fn tags_check(
        &self,
        caller: &Caller,
        type_name: &str,
        resources: &[String],
        tags: &[(String, String)],
        creating: bool,
    ) -> Result<TagRequest> {
        let resource_type = resource_type(type_name)?;
        if resources.is_empty() {
            return Err(Error::invalid_param(
                "resourceids must name at least one resource",
            ));
        }
        if creating && tags.is_empty() {
            return Err(Error::invalid_param(
                "tags must hold at least one key and value",
            ));
        }
        let mut keys = BTreeSet::new();
        for (k, v) in tags {
            if k.trim().is_empty() {
                return Err(Error::invalid_param("A tag key must not be empty"));
            }
            if creating && v.trim().is_empty() {
                return Err(Error::invalid_param(format!(
                    "Value for the key {k} is either null or empty"
                )));
            }
            if k.chars().count() > TAG_TEXT_MAX || v.chars().count() > TAG_TEXT_MAX {
                return Err(Error::invalid_param(format!(
                    "Tag key and value must be at most {TAG_TEXT_MAX} characters (key {k})"
                )));
            }
            if creating && !keys.insert(k.to_lowercase()) {
                return Err(Error::invalid_param(format!("Tag {k} is given twice")));
            }
        }
        for id in resources {
            self.taggable(caller, resource_type, id).await?;
        }
        Ok(TagRequest {
            resource_type,
            resources: resources.to_vec(),
            tags: tags.to_vec(),
            customer: None,
        })
    }

    /// `createTags`: every pair on every resource, all or nothing.
    pub async fn tags_create(&self, caller: &Caller, req: &TagRequest) -> Result<()> {
        let now = now_millis();
        let mut rows = Vec::new();
        for id in &req.resources {
            let r = self.taggable(caller, req.resource_type, id).await?;
            let existing = self.store.tags_of(r.resource_type, &[r.id]).await?;
            for (key, value) in &req.tags {
                if existing.iter().any(|t| t.key.eq_ignore_ascii_case(key)) {
                    return Err(Error::invalid_param(format!(
                        "Tag {key} already exists on {} {}",
                        r.resource_type, r.uuid
                    )));
                }
                rows.push(ResourceTag {
                    id: 0,
                    uuid: ids::new_uuid(),
                    key: key.clone(),
                    value: value.clone(),
                    resource_type: r.resource_type.into(),
                    resource_id: r.id,
                    resource_uuid: r.uuid.clone(),
                    account_id: r.account_id,
                    domain_id: r.domain_id,
                    customer: req.customer.clone(),
                    created: now,
                });
            }
        }
        self.store.tag_create_all(&rows).await.map_err(|e| {
            if e.is_unique_violation() {
                Error::invalid_param(
                    "A tag with one of these keys was created on one of these resources meanwhile",
                )
            } else {
                e.into()
            }
        })?;
        self.event(
            Some(caller),
            "CREATE_TAGS",
            &format!(
                "{} tag(s) created on {} {}",
                req.tags.len(),
                req.resource_type,
                req.resources.join(",")
            ),
            None,
        )
        .await;
        Ok(())
    }

    /// `deleteTags`: without pairs every tag of the resources; a key alone matches any value; keys
    /// and values compare without regard to case. Nothing matched is upstream's 431.
    pub async fn tags_delete(&self, caller: &Caller, req: &TagRequest) -> Result<()> {
        let mut doomed = Vec::new();
        for id in &req.resources {
            let r = self.taggable(caller, req.resource_type, id).await?;
            for t in self.store.tags_of(r.resource_type, &[r.id]).await? {
                let wanted = req.tags.is_empty()
                    || req.tags.iter().any(|(k, v)| {
                        t.key.eq_ignore_ascii_case(k)
                            && (v.is_empty() || t.value.eq_ignore_ascii_case(v))
                    });
                if wanted {
                    doomed.push(t.id);
                }
            }
        }
        if doomed.is_empty() {
            return Err(Error::invalid_param(
                "Unable to find any tags which conform to specified delete parameters.",
            ));
        }
        self.store.tag_delete_all(&doomed).await?;
        self.event(
            Some(caller),
            "DELETE_TAGS",
            &format!(
                "{} tag(s) deleted from {} {}",
                doomed.len(),
                req.resource_type,
                req.resources.join(",")
            ),
            None,
        )
        .await;
        Ok(())
    }

    /// `listTags`: a user sees the tags of what their account owns; a root admin all of them.
    /// `listTags`: the caller's tags (root administrators: all); with `project`, the tags of
    /// the project's resources (`-1`: of every project of the caller).
    pub async fn tag_list(
        &self,
        caller: &Caller,
        mut filter: TagFilter,
        project: Option<&str>,
        page: Page,
    ) -> Result<(Vec<ResourceTag>, i64)> {
        if let Some(t) = filter.resource_type.take() {
            filter.resource_type = Some(resource_type(&t)?.to_string());
        }
        match project {
            None if !caller.is_root_admin() => filter.account_id = Some(caller.account.id),
            None => {}
            Some("-1") => {
                let accounts = self.project_accounts_visible(caller).await?;
                let (all, _) = self.store.tag_list(&filter, Page::all()).await?;
                let owned = all
                    .into_iter()
                    .filter(|t| t.account_id.is_some_and(|a| accounts.contains(&a)))
                    .collect();
                return Ok(super::identity::paginate(owned, page));
            }
            Some(uuid) => {
                filter.account_id = Some(self.project_for(caller, uuid).await?.account_id)
            }
        }
        Ok(self.store.tag_list(&filter, page).await?)
    }
}
