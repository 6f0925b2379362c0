//! What a stopped instance's guest receives at its next start: `resetSSHKeyForVirtualMachine`
//! (new key pairs), `resetUserDataForVirtualMachine` / `updateVirtualMachine userdata`, and a
//! new host name (`updateVirtualMachine name`); also the instance group it is filed under.
//!
//! Upstream refuses the key reset for External instances; Trellis stores the new keys where the
//! deploy put them (`SSH.PublicKey`, `SSH.KeyPairNames`) and the extension finds them in the
//! next payload (the Local extension rewrites its cloud-init seed at `start`). Both changes are
//! refused while the instance is not Stopped, as upstream, so a running guest is never out of
//! step with what the server shows.

use trellis_model::entity::{DetailOwner, Instance, SshKeyPair};
use trellis_model::instance::VmState;
use trellis_model::{Error, Result};

use super::deploy::RequestMethod;
use super::instance::Op;
use super::ownership::OwnerInput;
use super::{App, Caller};

/// The instance detail set by `updateVirtualMachine deleteprotection=true`; views show it as
/// `deleteprotection`, never among the details.
pub const DETAIL_DELETE_PROTECTION: &str = "deleteprotection";

impl App {
    fn require_stopped(inst: &Instance, what: &str) -> Result<()> {
        if inst.state != VmState::Stopped {
            return Err(Error::invalid_param(format!(
                "Instance {} must be Stopped to {what} (it is {})",
                inst.display_name,
                inst.state.as_str()
            )));
        }
        Ok(())
    }

    /// Request-time checks of `resetSSHKeyForVirtualMachine`: access, state, and the key pairs
    /// (of the instance's owner; `account`/`domainid`/`projectid` must name that owner).
    pub async fn instance_reset_keys_check(
        &self,
        caller: &Caller,
        uuid: &str,
        owner: &OwnerInput,
        names: &[String],
    ) -> Result<(Instance, Vec<SshKeyPair>)> {
        let inst = self.instance_check(caller, uuid, Op::Update).await?;
        Self::require_stopped(&inst, "reset its SSH keys")?;
        if names.is_empty() {
            return Err(Error::invalid_param(
                "Give the key pairs to install: keypair or keypairs",
            ));
        }
        if owner.account.is_some() || owner.domain_uuid.is_some() || owner.project_uuid.is_some() {
            let named = self.owner_account(caller, owner).await?;
            if named.id != inst.account_id {
                return Err(Error::invalid_param(format!(
                    "The key pairs must belong to the owner of instance {}",
                    inst.display_name
                )));
            }
        }
        let keypairs = self.ssh_keypairs_named(inst.account_id, names).await?;
        Ok((inst, keypairs))
    }

    /// `resetSSHKeyForVirtualMachine`, the job.
    pub async fn instance_reset_keys(
        &self,
        caller: &Caller,
        uuid: &str,
        names: &[String],
    ) -> Result<Instance> {
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        // Checked again under the lock (the request's checks ran before the job was queued;
        // this job is the instance's pending operation now).
        let inst = self.instance_for(caller, uuid).await?;
        Self::require_stopped(&inst, "reset its SSH keys")?;
        let keypairs = self.ssh_keypairs_named(inst.account_id, names).await?;
        let keys: Vec<&str> = keypairs.iter().map(|k| k.public_key.as_str()).collect();
        let names: Vec<&str> = keypairs.iter().map(|k| k.name.as_str()).collect();
        self.store
            .instance_set_guest_data(inst.id, None, Some((&keys.join("\n"), &names.join(","))))
            .await?;
        self.event(
            Some(caller),
            "VM.RESETSSHKEY",
            &format!(
                "SSH keys of instance {} reset to {}",
                inst.display_name,
                names.join(",")
            ),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        self.reload(&inst).await
    }

    /// `resetUserDataForVirtualMachine` (Stopped only) and `updateVirtualMachine userdata`
    /// (`stopped_only` false: the extension sees it in its next payload).
    pub async fn instance_set_user_data(
        &self,
        caller: &Caller,
        uuid: &str,
        raw: &str,
        method: RequestMethod,
        stopped_only: bool,
    ) -> Result<Instance> {
        let user_data = self.user_data_checked(raw, method)?;
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let inst = self.instance_check(caller, uuid, Op::Update).await?;
        if stopped_only {
            Self::require_stopped(&inst, "reset its user data")?;
        }
        self.store
            .instance_set_guest_data(inst.id, Some(&user_data), None)
            .await?;
        self.event(
            Some(caller),
            "VM.RESETUSERDATA",
            &format!("User data of instance {} replaced", inst.display_name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        self.reload(&inst).await
    }

    /// `updateVirtualMachine name=`: a new host name for a Stopped instance, in the next payload.
    pub async fn instance_rename(
        &self,
        caller: &Caller,
        uuid: &str,
        name: &str,
    ) -> Result<Instance> {
        if !super::deploy::is_valid_hostname(name) {
            return Err(Error::invalid_param(format!("Invalid name {name}: use letters, digits and hyphens, at most 63 characters, not starting or ending with a hyphen")));
        }
        let lock = self.lock_for(&format!("instance-{uuid}")).await;
        let _guard = lock.lock().await;
        let inst = self.instance_check(caller, uuid, Op::Update).await?;
        if inst.name == name {
            return Ok(inst);
        }
        Self::require_stopped(&inst, "change its name")?;
        self.store.instance_set_name(inst.id, name).await?;
        self.event(
            Some(caller),
            "VM.UPDATE",
            &format!("Instance {} renamed to {name}", inst.name),
            Some(("VirtualMachine", &inst.uuid)),
        )
        .await;
        self.reload(&inst).await
    }

    /// `updateVirtualMachine group=`: file the instance under a group (an empty name: none).
    pub async fn instance_set_group(
        &self,
        caller: &Caller,
        uuid: &str,
        group: &str,
    ) -> Result<Instance> {
        let group = group.trim();
        if group.chars().count() > 255 {
            return Err(Error::invalid_param(
                "Instance group name must be at most 255 characters",
            ));
        }
        let inst = self.instance_check(caller, uuid, Op::Update).await?;
        if group.is_empty() {
            self.store
                .detail_delete(DetailOwner::Instance, inst.id, super::deploy::DETAIL_GROUP)
                .await?;
        } else {
            self.store
                .detail_upsert(
                    DetailOwner::Instance,
                    inst.id,
                    super::deploy::DETAIL_GROUP,
                    group,
                    true,
                )
                .await?;
        }
        self.reload(&inst).await
    }

    /// `updateVirtualMachine deleteprotection=`: while true, destroying the instance is refused.
    pub async fn instance_set_delete_protection(
        &self,
        caller: &Caller,
        uuid: &str,
        on: bool,
    ) -> Result<Instance> {
        let inst = self.instance_check(caller, uuid, Op::Update).await?;
        if on {
            self.store
                .detail_upsert(
                    DetailOwner::Instance,
                    inst.id,
                    DETAIL_DELETE_PROTECTION,
                    "true",
                    true,
                )
                .await?;
        } else {
            self.store
                .detail_delete(DetailOwner::Instance, inst.id, DETAIL_DELETE_PROTECTION)
                .await?;
        }
        self.reload(&inst).await
    }

    /// Refuse to destroy a protected instance (upstream's 431 and text).
    pub(crate) async fn delete_protection_check(&self, inst: &Instance) -> Result<()> {
        let on = self
            .store
            .detail_get(DetailOwner::Instance, inst.id, DETAIL_DELETE_PROTECTION)
            .await?
            .is_some_and(|v| v == "true");
        if on {
            return Err(Error::invalid_param(format!(
                "Instance [id = {}, name = {}] has delete protection enabled and cannot be deleted.",
                inst.uuid, inst.name
            )));
        }
        Ok(())
    }
}
