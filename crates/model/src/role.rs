//! Role types and their bitmask, as CloudStack defines them (Admin=1, ResourceAdmin=2,
//! DomainAdmin=4, User=8).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RoleType {
    Admin,
    ResourceAdmin,
    DomainAdmin,
    User,
}

impl RoleType {
    pub const ALL: [RoleType; 4] = [
        RoleType::Admin,
        RoleType::ResourceAdmin,
        RoleType::DomainAdmin,
        RoleType::User,
    ];

    pub fn mask(self) -> u32 {
        match self {
            RoleType::Admin => 1,
            RoleType::ResourceAdmin => 2,
            RoleType::DomainAdmin => 4,
            RoleType::User => 8,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RoleType::Admin => "Admin",
            RoleType::ResourceAdmin => "ResourceAdmin",
            RoleType::DomainAdmin => "DomainAdmin",
            RoleType::User => "User",
        }
    }

    /// Exact-name parse, as CloudStack's enum lookup does.
    pub fn parse(s: &str) -> Option<RoleType> {
        RoleType::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The CloudStack account type number (1 admin, 0 user, 2 domain admin, 3 resource admin).
    pub fn account_type(self) -> i64 {
        match self {
            RoleType::Admin => 1,
            RoleType::User => 0,
            RoleType::DomainAdmin => 2,
            RoleType::ResourceAdmin => 3,
        }
    }

    /// The `caller.type` text of extension payloads.
    pub fn account_type_name(self) -> &'static str {
        match self {
            RoleType::Admin => "ADMIN",
            RoleType::User => "NORMAL",
            RoleType::DomainAdmin => "DOMAIN_ADMIN",
            RoleType::ResourceAdmin => "RESOURCE_DOMAIN_ADMIN",
        }
    }

    pub fn from_account_type(t: i64) -> Option<RoleType> {
        match t {
            1 => Some(RoleType::Admin),
            0 => Some(RoleType::User),
            2 => Some(RoleType::DomainAdmin),
            3 => Some(RoleType::ResourceAdmin),
            _ => None,
        }
    }
}

/// Role types decoded from a mask, in canonical order.
pub fn roles_from_mask(mask: u32) -> Vec<RoleType> {
    RoleType::ALL
        .into_iter()
        .filter(|r| mask & r.mask() != 0)
        .collect()
}

/// The mask of a set of role types.
pub fn mask_of(roles: &[RoleType]) -> u32 {
    roles.iter().fold(0, |m, r| m | r.mask())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trip() {
        let all = mask_of(&RoleType::ALL);
        assert_eq!(all, 15);
        assert_eq!(roles_from_mask(all), RoleType::ALL.to_vec());
        assert_eq!(roles_from_mask(9), vec![RoleType::Admin, RoleType::User]);
        assert_eq!(RoleType::parse("DomainAdmin"), Some(RoleType::DomainAdmin));
        assert_eq!(RoleType::parse("admin"), None);
    }
}
