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

/// What a role permission does with the commands its rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    Allow,
    Deny,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Allow => "allow",
            Permission::Deny => "deny",
        }
    }

    /// `allow` or `deny`, in any case (as upstream's enum lookup after upper-casing).
    pub fn parse(s: &str) -> Option<Permission> {
        match s.to_ascii_lowercase().as_str() {
            "allow" => Some(Permission::Allow),
            "deny" => Some(Permission::Deny),
            _ => None,
        }
    }
}

/// A rule is an API name or a pattern of letters, digits and `*`.
pub fn rule_is_well_formed(rule: &str) -> bool {
    !rule.is_empty() && rule.chars().all(|c| c.is_ascii_alphanumeric() || c == '*')
}

/// Does `rule` match the whole command name `api`? Case does not matter; `*` matches any run of
/// characters, the empty one included.
pub fn rule_matches(rule: &str, api: &str) -> bool {
    let (r, a) = (rule.as_bytes(), api.as_bytes());
    // Glob matching with backtracking to the last star: linear in practice, no recursion.
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while j < a.len() {
        if i < r.len() && r[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < r.len() && r[i].eq_ignore_ascii_case(&a[j]) {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    r[i..].iter().all(|c| *c == b'*')
}

/// The verdict of a role's rules, in their order, on a command: the first matching rule's
/// permission, or `None` when no rule matches (then the command's role types decide).
pub fn verdict<'a>(
    rules: impl IntoIterator<Item = (&'a str, Permission)>,
    api: &str,
) -> Option<Permission> {
    rules
        .into_iter()
        .find(|(rule, _)| rule_matches(rule, api))
        .map(|(_, p)| p)
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
    fn rules_match_whole_names_case_insensitively() {
        assert!(rule_matches("list*", "listZones"));
        assert!(rule_matches("LIST*", "listZones"));
        assert!(rule_matches("*Tags", "createTags"));
        assert!(rule_matches("*", "anything"));
        assert!(rule_matches("listZones", "listzones"));
        assert!(rule_matches("l*t*s", "listZones"));
        assert!(!rule_matches("list", "listZones"));
        assert!(!rule_matches("*Tag", "createTags"));
        assert!(!rule_matches("create*", "listZones"));
        assert!(!rule_matches("listZones", "listZone"));
        assert!(rule_matches("**", ""));
        assert!(rule_well_formed_cases());
    }

    fn rule_well_formed_cases() -> bool {
        rule_is_well_formed("list*")
            && rule_is_well_formed("createVM2")
            && !rule_is_well_formed("")
            && !rule_is_well_formed("list.*")
            && !rule_is_well_formed("list Zones")
            && !rule_is_well_formed("list?")
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = [
            ("listVirtualMachines", Permission::Deny),
            ("list*", Permission::Allow),
        ];
        assert_eq!(
            verdict(rules, "listVirtualMachines"),
            Some(Permission::Deny)
        );
        assert_eq!(verdict(rules, "listZones"), Some(Permission::Allow));
        assert_eq!(verdict(rules, "deployVirtualMachine"), None);
        let reversed = [rules[1], rules[0]];
        assert_eq!(
            verdict(reversed, "listVirtualMachines"),
            Some(Permission::Allow)
        );
        assert_eq!(Permission::parse("DENY"), Some(Permission::Deny));
        assert_eq!(Permission::parse("maybe"), None);
    }

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
