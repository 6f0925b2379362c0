//! What the HTTP layer may read, and nothing else: [`Reads`] is a read-only window on the store
//! for listings and lookups (each answers the domain error, not the store's), and
//! [`InstanceRefs`] is the view model of instance listings (everything an instance row shows,
//! loaded with a fixed number of queries). The HTTP layer never names the store: writes and
//! anything with a rule in it go through `App` methods.

use std::collections::{BTreeMap, HashMap};
use trellis_model::entity::{
    Account, AffinityGroup, Alert, Cluster, DetailOwner, Domain, Event, Extension, Host, Instance,
    Network, NetworkOffering, Nic, Pod, Project, ResourceTag, Role, ServerNode, ServiceOffering,
    Template, User, Zone,
};
use trellis_model::Result;
use trellis_store::Store;

/// The filter and paging types of listings, for the HTTP layer (which never names the store).
pub use trellis_store::{
    CustomActionFilter, DiskOfferingFilter, EventFilter, ExtensionFilter, IdentityFilter,
    InfraFilter, InstanceFilter, Page, TagFilter, TemplateFilter, VolumeFilter,
};

use super::App;

/// Read-only lookups and listings (see the module documentation). A copyable handle: each
/// call's future holds the store borrow, not the handle.
#[derive(Clone, Copy)]
pub struct Reads<'a>(&'a Store);

impl App {
    /// The read-only window the HTTP layer lists and looks things up through.
    pub fn reads(&self) -> Reads<'_> {
        Reads(&self.store)
    }
}

/// `name(args) -> T` forwards to the store method of the same name, with the domain error.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl Reads<'_> {
            $(
                pub async fn $name(self, $($arg: $ty),*) -> Result<$ret> {
                    Ok(self.0.$name($($arg),*).await?)
                }
            )*
        }
    };
}

forward! {
    zone_get(id: i64) -> Option<Zone>;
    zone_by_uuid(uuid: &str) -> Option<Zone>;
    zone_list(f: &InfraFilter, page: Page) -> (Vec<Zone>, i64);
    pod_get(id: i64) -> Option<Pod>;
    pod_by_uuid(uuid: &str) -> Option<Pod>;
    pod_list(f: &InfraFilter, page: Page) -> (Vec<Pod>, i64);
    cluster_get(id: i64) -> Option<Cluster>;
    cluster_by_uuid(uuid: &str) -> Option<Cluster>;
    cluster_list(f: &InfraFilter, page: Page) -> (Vec<Cluster>, i64);
    host_get(id: i64) -> Option<Host>;
    host_by_uuid(uuid: &str) -> Option<Host>;
    host_list(f: &InfraFilter, page: Page) -> (Vec<Host>, i64);
    extension_get(id: i64) -> Option<Extension>;
    extension_by_uuid(uuid: &str) -> Option<Extension>;
    offering_list(uuid: Option<&str>, name: Option<&str>, keyword: Option<&str>, page: Page) -> (Vec<ServiceOffering>, i64);
    network_by_uuid(uuid: &str) -> Option<Network>;
    network_list(uuid: Option<&str>, zone_id: Option<i64>, account_id: Option<i64>, keyword: Option<&str>, page: Page) -> (Vec<Network>, i64);
    network_offering_get(id: i64) -> Option<NetworkOffering>;
    network_offering_list() -> Vec<NetworkOffering>;
    domain_get(id: i64) -> Option<Domain>;
    domain_by_uuid(uuid: &str) -> Option<Domain>;
    domain_list(uuid: Option<&str>, name: Option<&str>, keyword: Option<&str>, page: Page) -> (Vec<Domain>, i64);
    role_get(id: i64) -> Option<Role>;
    account_get(id: i64) -> Option<Account>;
    account_by_name(domain_id: i64, name: &str) -> Option<Account>;
    user_get(id: i64) -> Option<User>;
    user_list(f: &IdentityFilter, page: Page) -> (Vec<User>, i64);
    event_list(f: &EventFilter, page: Page) -> (Vec<Event>, i64);
    alert_list(uuid: Option<&str>, type_id: Option<i64>, keyword: Option<&str>, page: Page) -> (Vec<Alert>, i64);
    tags_of(resource_type: &str, resource_ids: &[i64]) -> Vec<ResourceTag>;
    instance_by_uuid_any(uuid: &str) -> Option<Instance>;
    server_list_live(since: i64) -> Vec<ServerNode>;
    server_extension_readiness() -> Vec<(String, String, bool)>;
}

impl Reads<'_> {
    /// The visible details of an owner, as views show them: secrets masked.
    pub async fn details_visible(
        self,
        owner: DetailOwner,
        owner_id: i64,
    ) -> Result<BTreeMap<String, String>> {
        Ok(super::secret_details::masked(
            self.0.details_visible(owner, owner_id).await?,
        ))
    }

    /// Is the database answering?
    pub async fn ping(self) -> bool {
        self.0.ping().await
    }
}

/// Everything rows of instances show besides the instances: their zones, hosts, templates,
/// offerings, owners, networks, extensions, NICs and details.
#[derive(Debug, Default)]
pub struct InstanceRefs {
    pub zones: HashMap<i64, Zone>,
    pub hosts: HashMap<i64, Host>,
    pub templates: HashMap<i64, Template>,
    pub offerings: HashMap<i64, ServiceOffering>,
    pub accounts: HashMap<i64, Account>,
    pub domains: HashMap<i64, Domain>,
    pub networks: HashMap<i64, Network>,
    pub extensions: HashMap<i64, Extension>,
    pub nics: HashMap<i64, Vec<Nic>>,
    pub details: HashMap<i64, BTreeMap<String, String>>,
    /// Tags of each instance, by instance id.
    pub tags: HashMap<i64, Vec<ResourceTag>>,
    /// Affinity groups of each instance, by instance id.
    pub affinity_groups: HashMap<i64, Vec<AffinityGroup>>,
    /// The project of each project account among the owners, by account id.
    pub projects: HashMap<i64, Project>,
}

/// Up to this many instances, references are fetched one by one; beyond, whole tables are read.
const FEW: usize = 20;

impl App {
    /// The references of `instances`, with a fixed number of queries for a page of any size.
    pub async fn instance_refs(&self, instances: &[Instance]) -> Result<InstanceRefs> {
        let store = &self.store;
        let ids: Vec<i64> = instances.iter().map(|i| i.id).collect();
        let mut refs = InstanceRefs {
            nics: store.nic_list_for(&ids).await?,
            details: store
                .details_visible_for(DetailOwner::Instance, &ids)
                .await?
                .into_iter()
                .map(|(id, d)| (id, super::secret_details::masked(d)))
                .collect(),
            ..InstanceRefs::default()
        };
        for t in store.tags_of("UserVm", &ids).await? {
            refs.tags.entry(t.resource_id).or_default().push(t);
        }
        for (member, g) in store.affinity_groups_for(&ids).await? {
            refs.affinity_groups.entry(member).or_default().push(g);
        }
        for i in instances {
            if !refs.templates.contains_key(&i.template_id) {
                if let Some(t) = store.template_get(i.template_id).await? {
                    refs.templates.insert(t.id, t);
                }
            }
            if !refs.offerings.contains_key(&i.service_offering_id) {
                if let Some(o) = store.offering_get(i.service_offering_id).await? {
                    refs.offerings.insert(o.id, o);
                }
            }
        }
        if instances.len() <= FEW {
            // A few instances (single-object replies, small pages): fetch just what they
            // reference, each row once (a page's instances mostly share zone and owner); hosts
            // are read in one query when the page spreads over more than a few.
            let distinct_hosts: std::collections::BTreeSet<i64> =
                instances.iter().filter_map(|i| i.host_id).collect();
            if distinct_hosts.len() > 4 {
                refs.hosts = store
                    .host_list(&InfraFilter::default(), Page::all())
                    .await?
                    .0
                    .into_iter()
                    .filter(|h| distinct_hosts.contains(&h.id))
                    .map(|h| (h.id, h))
                    .collect();
            }
            for i in instances {
                if !refs.zones.contains_key(&i.zone_id) {
                    if let Some(z) = store.zone_get(i.zone_id).await? {
                        refs.zones.insert(z.id, z);
                    }
                }
                if let Some(h) = i.host_id.filter(|h| !refs.hosts.contains_key(h)) {
                    if let Some(h) = store.host_get(h).await? {
                        refs.hosts.insert(h.id, h);
                    }
                }
                if !refs.accounts.contains_key(&i.account_id) {
                    if let Some(a) = store.account_get(i.account_id).await? {
                        refs.accounts.insert(a.id, a);
                    }
                }
                if !refs.domains.contains_key(&i.domain_id) {
                    if let Some(d) = store.domain_get(i.domain_id).await? {
                        refs.domains.insert(d.id, d);
                    }
                }
            }
            let network_ids: std::collections::BTreeSet<i64> =
                refs.nics.values().flatten().map(|n| n.network_id).collect();
            for nid in network_ids {
                if let Some(n) = store.network_get(nid).await? {
                    refs.networks.insert(n.id, n);
                }
            }
            let ext_ids: std::collections::BTreeSet<i64> = refs
                .templates
                .values()
                .filter_map(|t| t.extension_id)
                .collect();
            for xid in ext_ids {
                if let Some(x) = store.extension_get(xid).await? {
                    refs.extensions.insert(x.id, x);
                }
            }
            self.add_projects(&mut refs, instances).await?;
            return Ok(refs);
        }
        let all = Page::all();
        let f = InfraFilter::default();
        refs.zones = store
            .zone_list(&f, all)
            .await?
            .0
            .into_iter()
            .map(|x| (x.id, x))
            .collect();
        refs.hosts = store
            .host_list(&f, all)
            .await?
            .0
            .into_iter()
            .map(|x| (x.id, x))
            .collect();
        refs.accounts = store
            .account_list(&IdentityFilter::default(), all)
            .await?
            .0
            .into_iter()
            .map(|x| (x.id, x))
            .collect();
        refs.domains = store
            .domain_list(None, None, None, all)
            .await?
            .0
            .into_iter()
            .map(|x| (x.id, x))
            .collect();
        refs.networks = store
            .network_all()
            .await?
            .into_iter()
            .map(|x| (x.id, x))
            .collect();
        refs.extensions = store
            .extension_all()
            .await?
            .into_iter()
            .map(|x| (x.id, x))
            .collect();
        self.add_projects(&mut refs, instances).await?;
        Ok(refs)
    }

    /// Project-owned instances show their project (and the project account, which account
    /// listings leave out). One query for any page: projects are few next to instances.
    async fn add_projects(&self, refs: &mut InstanceRefs, instances: &[Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let store = &self.store;
        let (projects, _) = store
            .project_list(&trellis_store::ProjectFilter::default(), Page::all())
            .await?;
        let owners: std::collections::HashSet<i64> =
            instances.iter().map(|i| i.account_id).collect();
        for p in projects {
            if !owners.contains(&p.account_id) {
                continue;
            }
            if !refs.accounts.contains_key(&p.account_id) {
                if let Some(a) = store.account_get(p.account_id).await? {
                    refs.accounts.insert(a.id, a);
                }
            }
            refs.projects.insert(p.account_id, p);
        }
        Ok(())
    }
}
