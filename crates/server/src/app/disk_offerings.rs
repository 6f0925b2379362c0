//! Disk offerings (`createDiskOffering`, `deleteDiskOffering`, `listDiskOfferings`) and their
//! check at deploy. External instances take no data volume: a deploy that names an offering must
//! name one available in its zone, with a size exactly when the offering is customized (the
//! Cluster API provider's own rule), and the instance records which it was.

use trellis_model::entity::DiskOffering;
use trellis_model::{ids, time::now_millis, Error, Result};
use trellis_store::{DiskOfferingFilter, Page};

use super::{App, Caller};

/// The instance details a deploy with a disk offering records (views show them as
/// `diskofferingid`/`diskofferingname`, never among the details).
pub const DETAIL_DISK_OFFERING_ID: &str = "diskofferingid";
pub const DETAIL_DISK_OFFERING_NAME: &str = "diskofferingname";

/// Input of `createDiskOffering`.
#[derive(Debug, Clone, Default)]
pub struct DiskOfferingCreate {
    pub name: String,
    pub display_text: Option<String>,
    /// GiB; required unless `customized`.
    pub disk_size: Option<i64>,
    pub customized: bool,
    pub storage_type: Option<String>,
    pub provisioning_type: Option<String>,
    pub zone_uuid: Option<String>,
}

impl App {
    /// `createDiskOffering`.
    pub async fn disk_offering_create(
        &self,
        caller: &Caller,
        input: &DiskOfferingCreate,
    ) -> Result<DiskOffering> {
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(Error::invalid_param(
                "Disk offering name must be 1 to 255 characters",
            ));
        }
        let disk_size =
            match (input.customized, input.disk_size) {
                (true, Some(_)) => return Err(Error::invalid_param(
                    "A customized disk offering takes no disksize: the size is chosen at deploy",
                )),
                (true, None) => 0,
                (false, Some(n)) if n >= 1 => n,
                (false, Some(n)) => {
                    return Err(Error::invalid_param(format!(
                        "Invalid disksize {n}: give the size in GiB, at least 1"
                    )))
                }
                (false, None) => {
                    return Err(Error::invalid_param(
                        "Disk size is required for a non-customized disk offering",
                    ))
                }
            };
        let pick = |given: &Option<String>, allowed: &[&str], what: &str| -> Result<String> {
            let v = given.as_deref().unwrap_or(allowed[0]).to_ascii_lowercase();
            if allowed.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(Error::invalid_param(format!(
                    "Invalid {what} {v}: use one of {}",
                    allowed.join(", ")
                )))
            }
        };
        let storage_type = pick(&input.storage_type, &["shared", "local"], "storagetype")?;
        let provisioning_type = pick(
            &input.provisioning_type,
            &["thin", "sparse", "fat"],
            "provisioningtype",
        )?;
        let zone_id = match &input.zone_uuid {
            Some(u) if u != "-1" => Some(self.zone_by_uuid(u).await?.id),
            _ => None,
        };
        let o = self
            .store
            .disk_offering_create(&DiskOffering {
                id: 0,
                uuid: ids::new_uuid(),
                name: name.to_string(),
                display_text: input
                    .display_text
                    .clone()
                    .filter(|d| !d.trim().is_empty())
                    .unwrap_or_else(|| name.to_string()),
                disk_size,
                customized: input.customized,
                storage_type,
                provisioning_type,
                zone_id,
                created: now_millis(),
                removed: None,
            })
            .await?;
        self.event(
            Some(caller),
            "DISK.OFFERING.CREATE",
            &format!("Disk offering {name} created"),
            Some(("DiskOffering", &o.uuid)),
        )
        .await;
        Ok(o)
    }

    fn disk_offering_unknown(uuid: &str) -> Error {
        Error::invalid_param(format!("Unable to find disk offering by id {uuid}"))
    }

    /// `deleteDiskOffering`.
    pub async fn disk_offering_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        let o = self
            .store
            .disk_offering_by_uuid(uuid)
            .await?
            .ok_or_else(|| Self::disk_offering_unknown(uuid))?;
        self.store.disk_offering_delete(o.id, now_millis()).await?;
        self.event(
            Some(caller),
            "DISK.OFFERING.DELETE",
            &format!("Disk offering {} deleted", o.name),
            Some(("DiskOffering", &o.uuid)),
        )
        .await;
        Ok(())
    }

    /// `listDiskOfferings`.
    pub async fn disk_offering_list(
        &self,
        f: &DiskOfferingFilter,
        page: Page,
    ) -> Result<(Vec<DiskOffering>, i64)> {
        Ok(self.store.disk_offering_list(f, page).await?)
    }

    /// The zone of a disk offering, for its view (`None`: every zone).
    pub async fn disk_offering_zone(
        &self,
        o: &DiskOffering,
    ) -> Result<Option<trellis_model::entity::Zone>> {
        Ok(match o.zone_id {
            Some(z) => self.store.zone_get(z).await?,
            None => None,
        })
    }

    /// A deploy's `diskofferingid` and `size`: the offering must exist and be offered in the
    /// zone; a customized one needs `size` (GiB), a fixed one takes none.
    pub(crate) async fn disk_offering_for_deploy(
        &self,
        uuid: &str,
        zone_id: i64,
        size: Option<i64>,
    ) -> Result<DiskOffering> {
        let o = self
            .store
            .disk_offering_by_uuid(uuid)
            .await?
            .ok_or_else(|| Self::disk_offering_unknown(uuid))?;
        if o.zone_id.is_some_and(|z| z != zone_id) {
            return Err(Error::invalid_param(format!(
                "Disk offering {} is not available in the zone of the deployment",
                o.name
            )));
        }
        match (o.customized, size) {
            (true, None) => Err(Error::invalid_param(format!(
                "Disk offering {} is customized: give size (GiB)",
                o.name
            ))),
            (true, Some(n)) if n < 1 => Err(Error::invalid_param(format!(
                "Invalid size {n}: give the size in GiB, at least 1"
            ))),
            (false, Some(_)) => Err(Error::invalid_param(format!(
                "Disk offering {} has a fixed size: size cannot be given",
                o.name
            ))),
            _ => Ok(o),
        }
    }
}
