//! Resource types that limits count, numbered and named as CloudStack's `Resource.ResourceType`.
//! Trellis tracks the types its resources have: instances, their CPUs and memory, volumes,
//! templates, projects, networks and public IPs.

/// A counted resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    UserVm,
    PublicIp,
    Volume,
    Template,
    Project,
    Network,
    Cpu,
    Memory,
}

impl ResourceType {
    pub const ALL: [ResourceType; 8] = [
        ResourceType::UserVm,
        ResourceType::PublicIp,
        ResourceType::Volume,
        ResourceType::Template,
        ResourceType::Project,
        ResourceType::Network,
        ResourceType::Cpu,
        ResourceType::Memory,
    ];

    /// The number on the wire (`resourcetype`).
    pub fn number(self) -> i64 {
        match self {
            ResourceType::UserVm => 0,
            ResourceType::PublicIp => 1,
            ResourceType::Volume => 2,
            ResourceType::Template => 4,
            ResourceType::Project => 5,
            ResourceType::Network => 6,
            ResourceType::Cpu => 8,
            ResourceType::Memory => 9,
        }
    }

    /// The name on the wire (`resourcetypename`) and in limit errors.
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::UserVm => "user_vm",
            ResourceType::PublicIp => "public_ip",
            ResourceType::Volume => "volume",
            ResourceType::Template => "template",
            ResourceType::Project => "project",
            ResourceType::Network => "network",
            ResourceType::Cpu => "cpu",
            ResourceType::Memory => "memory",
        }
    }

    /// The part of the default's setting name after `max.account.` / `max.domain.` /
    /// `max.project.`.
    pub fn setting_suffix(self) -> &'static str {
        match self {
            ResourceType::UserVm => "user.vms",
            ResourceType::PublicIp => "public.ips",
            ResourceType::Volume => "volumes",
            ResourceType::Template => "templates",
            ResourceType::Project => "projects",
            ResourceType::Network => "networks",
            ResourceType::Cpu => "cpus",
            ResourceType::Memory => "memory",
        }
    }

    /// The prefix of the `<prefix>limit`/`<prefix>total`/`<prefix>available` fields of account,
    /// domain and project views.
    pub fn view_prefix(self) -> &'static str {
        match self {
            ResourceType::UserVm => "vm",
            ResourceType::PublicIp => "ip",
            ResourceType::Volume => "volume",
            ResourceType::Template => "template",
            ResourceType::Project => "project",
            ResourceType::Network => "network",
            ResourceType::Cpu => "cpu",
            ResourceType::Memory => "memory",
        }
    }

    pub fn from_number(n: i64) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.number() == n)
    }

    pub fn from_name(s: &str) -> Option<ResourceType> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

/// Whose limit: an account's (also a project's, through its project account) or a domain's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitOwner {
    Account(i64),
    Domain(i64),
}

impl LimitOwner {
    pub fn kind(self) -> &'static str {
        match self {
            LimitOwner::Account(_) => "account",
            LimitOwner::Domain(_) => "domain",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            LimitOwner::Account(id) | LimitOwner::Domain(id) => id,
        }
    }
}

/// What an owner holds of every type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceCounts {
    pub user_vms: i64,
    pub cpus: i64,
    pub memory: i64,
    pub volumes: i64,
    pub templates: i64,
    pub projects: i64,
    pub networks: i64,
    pub public_ips: i64,
}

impl ResourceCounts {
    pub fn get(&self, t: ResourceType) -> i64 {
        match t {
            ResourceType::UserVm => self.user_vms,
            ResourceType::PublicIp => self.public_ips,
            ResourceType::Volume => self.volumes,
            ResourceType::Template => self.templates,
            ResourceType::Project => self.projects,
            ResourceType::Network => self.networks,
            ResourceType::Cpu => self.cpus,
            ResourceType::Memory => self.memory,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::from_number(t.number()), Some(t));
            assert_eq!(ResourceType::from_name(t.name()), Some(t));
        }
        assert_eq!(
            ResourceType::from_number(3),
            None,
            "snapshots are not tracked"
        );
        assert_eq!(
            ResourceType::from_name("USER_VM"),
            Some(ResourceType::UserVm)
        );
        assert_eq!(
            ResourceType::ALL.map(ResourceType::number),
            [0, 1, 2, 4, 5, 6, 8, 9]
        );
    }
}
