//! Service offerings (with their `External:` details).

use std::collections::BTreeMap;
use trellis_model::entity::{DetailOwner, ServiceOffering};
use trellis_model::{ids, time::now_millis, Error, Result};

use super::infra::EXTERNAL_PREFIX;
use super::{require_admin, App, Caller};

/// Input of `createServiceOffering`.
#[derive(Debug, Clone, Default)]
pub struct OfferingInput {
    pub name: String,
    pub display_text: Option<String>,
    pub cpu_number: i64,
    pub cpu_speed: i64,
    pub memory: i64,
    pub host_tags: Option<String>,
    pub external_details: BTreeMap<String, String>,
}

impl App {
    pub async fn offering_create(
        &self,
        caller: &Caller,
        input: OfferingInput,
    ) -> Result<ServiceOffering> {
        let OfferingInput {
            name,
            display_text,
            cpu_number,
            cpu_speed,
            memory,
            host_tags,
            external_details,
        } = input;
        let (name, display_text, host_tags) =
            (&*name, display_text.as_deref(), host_tags.as_deref());
        require_admin(caller)?;
        if cpu_number < 1 || memory < 1 || cpu_speed < 0 {
            return Err(Error::invalid_param(
                "cpunumber and memory must be positive, cpuspeed not negative",
            ));
        }
        let o = ServiceOffering {
            id: 0,
            uuid: ids::new_uuid(),
            name: name.into(),
            display_text: display_text.unwrap_or(name).into(),
            cpu_number,
            cpu_speed,
            memory,
            host_tags: host_tags.map(str::to_string),
            state: "Active".into(),
            created: now_millis(),
        };
        // A new offering: no stored secret for a mask to stand for.
        super::secret_details::keep_masked(external_details.clone(), &BTreeMap::new())?;
        let o = self.store.offering_create(&o).await?;
        self.details_replace(
            DetailOwner::Offering,
            o.id,
            EXTERNAL_PREFIX,
            &external_details,
        )
        .await?;
        self.event(
            Some(caller),
            "SERVICE.OFFERING.CREATE",
            &format!("Service offering {name} created"),
            Some(("ServiceOffering", &o.uuid)),
        )
        .await;
        Ok(o)
    }

    pub async fn offering_by_uuid(&self, uuid: &str) -> Result<ServiceOffering> {
        self.store.offering_by_uuid(uuid).await?.ok_or_else(|| {
            Error::not_found(format!("Unable to find service offering by id {uuid}"))
        })
    }

    pub async fn offering_update(
        &self,
        caller: &Caller,
        uuid: &str,
        name: Option<&str>,
        display_text: Option<&str>,
        external_details: Option<BTreeMap<String, String>>,
        cleanup: bool,
    ) -> Result<ServiceOffering> {
        require_admin(caller)?;
        let mut o = self.offering_by_uuid(uuid).await?;
        if let Some(n) = name {
            o.name = n.into();
        }
        if let Some(d) = display_text {
            o.display_text = d.into();
        }
        self.store.offering_update(&o).await?;
        if cleanup {
            self.details_replace(
                DetailOwner::Offering,
                o.id,
                EXTERNAL_PREFIX,
                &BTreeMap::new(),
            )
            .await?;
        } else if let Some(d) = external_details {
            self.details_replace(DetailOwner::Offering, o.id, EXTERNAL_PREFIX, &d)
                .await?;
        }
        self.event(
            Some(caller),
            "SERVICE.OFFERING.EDIT",
            &format!("Service offering {} updated", o.name),
            Some(("ServiceOffering", &o.uuid)),
        )
        .await;
        Ok(o)
    }

    pub async fn offering_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        require_admin(caller)?;
        let o = self.offering_by_uuid(uuid).await?;
        self.store.offering_delete(o.id, now_millis()).await?;
        self.event(
            Some(caller),
            "SERVICE.OFFERING.DELETE",
            &format!("Service offering {} deleted", o.name),
            Some(("ServiceOffering", &o.uuid)),
        )
        .await;
        Ok(())
    }
}
