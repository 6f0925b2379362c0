//! Guest networks: network offerings (seeded), L2 and Shared networks, IP allocation.

use std::net::Ipv4Addr;
use trellis_model::entity::{Network, NetworkOffering};
use trellis_model::limits::ResourceType;
use trellis_model::{ids, time::now_millis, Error, Result};

use super::{App, Caller};

/// Input of `createNetwork`.
#[derive(Debug, Clone, Default)]
pub struct NetworkInput {
    pub name: String,
    pub display_text: Option<String>,
    pub offering_uuid: String,
    pub zone_uuid: String,
    pub vlan: Option<String>,
    pub gateway: Option<String>,
    pub netmask: Option<String>,
    pub start_ip: Option<String>,
    pub end_ip: Option<String>,
    /// `projectid`: the project owns the network.
    pub project_uuid: Option<String>,
}

fn parse_ip(s: &str, what: &str) -> Result<Ipv4Addr> {
    s.parse()
        .map_err(|_| Error::invalid_param(format!("Invalid {what}: {s}")))
}

impl App {
    /// Seed the default network offerings.
    pub(super) async fn network_offerings_bootstrap(&self) -> Result<()> {
        let existing = self.store.network_offering_list().await?;
        for (name, text, ty) in [
            ("DefaultL2NetworkOffering", "Offering for L2 networks", "L2"),
            (
                "DefaultSharedNetworkOffering",
                "Offering for Shared networks",
                "Shared",
            ),
        ] {
            if existing.iter().any(|o| o.name == name) {
                continue;
            }
            self.store
                .network_offering_create(&NetworkOffering {
                    id: 0,
                    uuid: ids::new_uuid(),
                    name: name.into(),
                    display_text: text.into(),
                    guest_ip_type: ty.into(),
                    specify_vlan: true,
                    state: "Enabled".into(),
                    is_default: true,
                    created: now_millis(),
                })
                .await?;
        }
        Ok(())
    }

    pub async fn network_create(&self, caller: &Caller, input: NetworkInput) -> Result<Network> {
        let offering = self
            .store
            .network_offering_by_uuid(&input.offering_uuid)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Unable to find network offering by id {}",
                    input.offering_uuid
                ))
            })?;
        let zone = self.zone_by_uuid(&input.zone_uuid).await?;
        // The owner: the caller, or the project it names (a member that may manage it).
        let owner = match &input.project_uuid {
            Some(_) => {
                let o = super::ownership::OwnerInput {
                    project_uuid: input.project_uuid.clone(),
                    ..Default::default()
                };
                self.owner_account(caller, &o).await?
            }
            None => caller.account.clone(),
        };
        let broadcast = match input.vlan.as_deref() {
            None | Some("") | Some("untagged") => None,
            Some(v) => {
                let n: u32 = v
                    .trim_start_matches("vlan://")
                    .parse()
                    .map_err(|_| Error::invalid_param(format!("Invalid VLAN {v}")))?;
                if !(1..=4094).contains(&n) {
                    return Err(Error::invalid_param(format!(
                        "Invalid VLAN {v}: expected 1 to 4094"
                    )));
                }
                Some(format!("vlan://{n}"))
            }
        };
        let shared = offering.guest_ip_type == "Shared";
        if shared {
            if !caller.is_root_admin() {
                return Err(Error::denied(
                    "only root administrators may create shared networks",
                ));
            }
            let (Some(gw), Some(nm), Some(s), Some(e)) = (
                &input.gateway,
                &input.netmask,
                &input.start_ip,
                &input.end_ip,
            ) else {
                return Err(Error::invalid_param(
                    "Shared networks need gateway, netmask, startip and endip",
                ));
            };
            let (gw, nm, s, e) = (
                parse_ip(gw, "gateway")?,
                parse_ip(nm, "netmask")?,
                parse_ip(s, "startip")?,
                parse_ip(e, "endip")?,
            );
            let mask = u32::from(nm);
            if u32::from(s) > u32::from(e)
                || (u32::from(s) & mask) != (u32::from(gw) & mask)
                || (u32::from(e) & mask) != (u32::from(gw) & mask)
            {
                return Err(Error::invalid_param(
                    "The IP range must lie within the gateway's subnet, start before end",
                ));
            }
        }
        let n = Network {
            id: 0,
            uuid: ids::new_uuid(),
            name: input.name.clone(),
            display_text: input
                .display_text
                .clone()
                .unwrap_or_else(|| input.name.clone()),
            zone_id: zone.id,
            network_offering_id: offering.id,
            guest_type: offering.guest_ip_type.clone(),
            broadcast_uri: broadcast,
            gateway: input.gateway.filter(|_| shared),
            netmask: input.netmask.filter(|_| shared),
            start_ip: input.start_ip.filter(|_| shared),
            end_ip: input.end_ip.filter(|_| shared),
            dns1: zone.dns1.clone(),
            dns2: zone.dns2.clone(),
            account_id: owner.id,
            domain_id: owner.domain_id,
            state: "Implemented".into(),
            created: now_millis(),
        };
        let _limits = self
            .limits_reserve(&owner, &[(ResourceType::Network, 1)])
            .await?;
        let n = self.store.network_create(&n).await?;
        self.event(
            Some(caller),
            "NETWORK.CREATE",
            &format!("Network {} created", n.name),
            Some(("Network", &n.uuid)),
        )
        .await;
        Ok(n)
    }

    pub async fn network_delete(&self, caller: &Caller, uuid: &str) -> Result<()> {
        let n = self
            .store
            .network_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found(format!("Unable to find network by id {uuid}")))?;
        if !caller.is_root_admin() && n.account_id != caller.account.id {
            return Err(Error::denied(format!(
                "Account {} does not own network {}",
                caller.account.name, n.uuid
            )));
        }
        if self.store.network_nic_count(n.id).await? > 0 {
            return Err(Error::in_use(format!(
                "Network {} still has instances attached",
                n.name
            )));
        }
        self.store.network_delete(n.id, now_millis()).await?;
        self.store.tag_delete_for_resource("Network", n.id).await?;
        self.event(
            Some(caller),
            "NETWORK.DELETE",
            &format!("Network {} deleted", n.name),
            Some(("Network", &n.uuid)),
        )
        .await;
        Ok(())
    }

    /// Allocate a free IP of a shared network.
    /// A fixed address asked for on network `n`: in its range, not its gateway, not used by a
    /// live NIC nor by another NIC of the same deploy (`taken`).
    pub async fn network_check_ip(
        &self,
        n: &Network,
        ip: &str,
        taken: &[String],
    ) -> Result<String> {
        let (Some(start), Some(end)) = (&n.start_ip, &n.end_ip) else {
            return Err(Error::invalid_param(format!(
                "Network {} assigns no addresses: a fixed IP address cannot be given on it",
                n.name
            )));
        };
        let addr: Ipv4Addr = ip
            .trim()
            .parse()
            .map_err(|_| Error::invalid_param(format!("Invalid IPv4 address {ip}")))?;
        let (s, e) = (
            u32::from(parse_ip(start, "startip")?),
            u32::from(parse_ip(end, "endip")?),
        );
        if !(s..=e).contains(&u32::from(addr)) {
            return Err(Error::invalid_param(format!(
                "IP address {addr} is not in the range {start}-{end} of network {}",
                n.name
            )));
        }
        let text = addr.to_string();
        if Some(&text) == n.gateway.as_ref() {
            return Err(Error::invalid_param(format!(
                "IP address {addr} is the gateway of network {}",
                n.name
            )));
        }
        if taken.contains(&text) || self.store.network_used_ips(n.id).await?.contains(&text) {
            return Err(Error::invalid_param(format!(
                "IP address {addr} is already used in network {}",
                n.name
            )));
        }
        Ok(text)
    }

    pub async fn network_allocate_ip(
        &self,
        n: &Network,
        taken: &[String],
    ) -> Result<Option<String>> {
        let (Some(s), Some(e)) = (&n.start_ip, &n.end_ip) else {
            return Ok(None);
        };
        let (s, e) = (
            u32::from(parse_ip(s, "startip")?),
            u32::from(parse_ip(e, "endip")?),
        );
        let mut used = self.store.network_used_ips(n.id).await?;
        used.extend(taken.iter().cloned());
        for candidate in s..=e {
            let ip = Ipv4Addr::from(candidate).to_string();
            if Some(&ip) != n.gateway.as_ref() && !used.contains(&ip) {
                return Ok(Some(ip));
            }
        }
        Err(Error::capacity(format!(
            "Insufficient address capacity: no free IP address left in network {}",
            n.name
        )))
    }
}

/// A MAC address a client may fix: six colon-separated hex octets, unicast.
pub fn check_mac(mac: &str) -> Result<()> {
    let octets: Vec<&str> = mac.split(':').collect();
    let well_formed = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()));
    let unicast = well_formed && u8::from_str_radix(octets[0], 16).is_ok_and(|b| b & 1 == 0);
    if !unicast {
        return Err(Error::invalid_param(format!(
            "Invalid MAC address {mac}: give six hexadecimal octets separated by colons, unicast"
        )));
    }
    Ok(())
}

/// One address of a network's range (`listPublicIpAddresses networkid=<shared>`).
#[derive(Debug, Clone)]
pub struct AddressView {
    pub uuid: String,
    pub ip: String,
    /// The instance holding it (uuid, name), shown only to whom may see that instance.
    pub holder: Option<(String, String)>,
    pub allocated: bool,
    /// When the holding NIC was made.
    pub since: Option<i64>,
}

/// The most addresses of one range listed (a /16).
const MAX_RANGE: u32 = 65_536;

impl App {
    /// The addresses of a network's range, Free or Allocated (`allocated_only`: Allocated
    /// ones), optionally one address or one id.
    pub async fn network_addresses(
        &self,
        caller: &Caller,
        network_uuid: &str,
        allocated_only: bool,
        ip: Option<&str>,
        id: Option<&str>,
    ) -> Result<(Network, Vec<AddressView>)> {
        let n = self
            .store
            .network_by_uuid(network_uuid)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("Unable to find network by id {network_uuid}"))
            })?;
        if n.guest_type != "Shared" && n.account_id != caller.account.id && !caller.is_root_admin()
        {
            return Err(Error::not_found(format!(
                "Unable to find network by id {network_uuid}"
            )));
        }
        let (Some(start), Some(end)) = (&n.start_ip, &n.end_ip) else {
            return Ok((n, Vec::new()));
        };
        let (s, e) = (
            u32::from(parse_ip(start, "startip")?),
            u32::from(parse_ip(end, "endip")?),
        );
        let holders = self.store.network_address_holders(n.id).await?;
        let mut out = Vec::new();
        for a in (s..=e).take(MAX_RANGE as usize) {
            let text = Ipv4Addr::from(a).to_string();
            if Some(&text) == n.gateway.as_ref() || ip.is_some_and(|f| f.trim() != text) {
                continue;
            }
            let uuid = trellis_model::ids::address_uuid(&n.uuid, &text);
            if id.is_some_and(|f| f != uuid) {
                continue;
            }
            let held = holders.iter().find(|h| h.0 == text);
            if allocated_only && held.is_none() {
                continue;
            }
            out.push(AddressView {
                uuid,
                holder: held
                    .filter(|h| caller.is_root_admin() || h.3 == caller.account.id)
                    .map(|h| (h.1.clone(), h.2.clone())),
                allocated: held.is_some(),
                since: held.map(|h| h.4),
                ip: text,
            });
        }
        Ok((n, out))
    }
}

impl App {
    /// `listNetworks`: the caller's networks and the Shared ones (root administrators: all);
    /// with `projectid`, the project's networks (`-1`: those of every project of the caller).
    pub async fn network_list_for(
        &self,
        caller: &Caller,
        uuid: Option<&str>,
        zone_id: Option<i64>,
        project: Option<&str>,
        keyword: Option<&str>,
        page: trellis_store::Page,
    ) -> Result<(Vec<Network>, i64)> {
        let Some(project) = project else {
            let scope = (!caller.is_root_admin()).then_some(caller.account.id);
            return Ok(self
                .store
                .network_list(uuid, zone_id, scope, keyword, page)
                .await?);
        };
        let accounts = match project {
            "-1" => self.project_accounts_visible(caller).await?,
            u => vec![self.project_for(caller, u).await?.account_id],
        };
        let (all, _) = self
            .store
            .network_list(uuid, zone_id, None, keyword, trellis_store::Page::all())
            .await?;
        let owned: Vec<Network> = all
            .into_iter()
            .filter(|n| accounts.contains(&n.account_id))
            .collect();
        Ok(super::identity::paginate(owned, page))
    }
}

/// The fixed address and MAC asked for one NIC.
pub(crate) type FixedNic = (Option<String>, Option<String>);

/// The networks a deploy names (`networkids`, or those of `iptonetworklist`) and the fixed
/// address and MAC of each NIC in order (`ipaddress`/`macaddress` for the default one).
pub(crate) fn requested_nics(
    input: &super::deploy::DeployInput,
) -> Result<(Vec<String>, Vec<FixedNic>)> {
    if !input.nic_requests.is_empty() && !input.network_uuids.is_empty() {
        return Err(Error::invalid_param(
            "networkids and iptonetworklist cannot be given together: iptonetworklist names the networks",
        ));
    }
    if input.nic_requests.is_empty() {
        let fixed = vec![(input.default_ip.clone(), input.default_mac.clone())];
        for mac in fixed.iter().filter_map(|(_, m)| m.as_deref()) {
            check_mac(mac)?;
        }
        return Ok((input.network_uuids.clone(), fixed));
    }
    if input.default_ip.is_some() || input.default_mac.is_some() {
        return Err(Error::invalid_param(
            "ipaddress and macaddress cannot be given with iptonetworklist: give them in its entries",
        ));
    }
    let uuids = input
        .nic_requests
        .iter()
        .map(|r| r.network_uuid.clone())
        .collect();
    let fixed: Vec<FixedNic> = input
        .nic_requests
        .iter()
        .map(|r| (r.ip.clone(), r.mac.clone()))
        .collect();
    for mac in fixed.iter().filter_map(|(_, m)| m.as_deref()) {
        check_mac(mac)?;
    }
    Ok((uuids, fixed))
}

impl App {
    /// The NICs of a new instance, one per network in order: fixed addresses checked, the
    /// others allocated from Shared ranges, fixed MACs kept (lower case), the rest drawn.
    /// Callers hold the allocation lock until the NICs are written.
    pub(crate) async fn nics_for_deploy(
        &self,
        networks: &[Network],
        fixed: &[FixedNic],
        now: i64,
    ) -> Result<Vec<trellis_model::entity::Nic>> {
        let mut nics = Vec::new();
        let mut taken = Vec::new();
        for (i, n) in networks.iter().enumerate() {
            let (fixed_ip, _) = fixed.get(i).cloned().unwrap_or_default();
            let ip = match fixed_ip {
                Some(ip) => Some(self.network_check_ip(n, &ip, &taken).await?),
                None if n.guest_type == "Shared" => self.network_allocate_ip(n, &taken).await?,
                None => None,
            };
            if let Some(ip) = &ip {
                taken.push(ip.clone());
            }
            nics.push(trellis_model::entity::Nic {
                id: 0,
                uuid: ids::new_uuid(),
                instance_id: 0,
                network_id: n.id,
                device_id: i as i64,
                mac: fixed
                    .get(i)
                    .and_then(|(_, m)| m.as_deref())
                    .map_or_else(super::infra::random_mac, str::to_ascii_lowercase),
                ip,
                netmask: n.netmask.clone(),
                gateway: n.gateway.clone(),
                is_default: i == 0,
                broadcast_uri: n.broadcast_uri.clone(),
                created: now,
            });
        }
        Ok(nics)
    }
}
