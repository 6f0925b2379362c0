//! The guest OS catalogue behind `listOsTypes` and `listOsCategories`: a fixed table, not
//! editable through the API. Clients find entries by description (Packer and Terraform with
//! `listOsTypes description=…` expecting exactly one match, Ansible by scanning the list), never
//! by a well-known id, so Trellis keeps a small subset of upstream's rows. Every uuid is a
//! name-based UUID (version 5) of the entry's name in a fixed namespace: the same on every
//! installation, so scripts and tests may write them down.

use sha1::{Digest, Sha1};

/// One OS category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsCategory {
    pub id: i64,
    pub name: &'static str,
}

/// One guest OS type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsType {
    /// Upstream's integer id where it is known, else one from Trellis's own range (1000+).
    pub id: i64,
    pub description: &'static str,
    pub category_id: i64,
}

/// What a template or instance reports when nothing else was chosen.
pub const DEFAULT_OS_TYPE: &str = "Other (64-bit)";

/// The categories, upstream's ids where known.
pub static OS_CATEGORIES: &[OsCategory] = &[
    OsCategory {
        id: 2,
        name: "Debian",
    },
    OsCategory {
        id: 7,
        name: "Other",
    },
    OsCategory {
        id: 9,
        name: "Unix",
    },
    OsCategory {
        id: 10,
        name: "Ubuntu",
    },
    OsCategory {
        id: 4,
        name: "RedHat",
    },
    OsCategory {
        id: 6,
        name: "Windows",
    },
    OsCategory {
        id: 1001,
        name: "Rocky Linux",
    },
    OsCategory {
        id: 1002,
        name: "AlmaLinux",
    },
];

/// The OS types.
pub static OS_TYPES: &[OsType] = &[
    OsType {
        id: 103,
        description: "Other (64-bit)",
        category_id: 7,
    },
    OsType {
        id: 60,
        description: "Other (32-bit)",
        category_id: 7,
    },
    OsType {
        id: 99,
        description: "Other Linux (64-bit)",
        category_id: 7,
    },
    OsType {
        id: 98,
        description: "Other Linux (32-bit)",
        category_id: 7,
    },
    OsType {
        id: 100,
        description: "Other Ubuntu (64-bit)",
        category_id: 10,
    },
    OsType {
        id: 59,
        description: "Other Ubuntu (32-bit)",
        category_id: 10,
    },
    OsType {
        id: 1001,
        description: "Ubuntu 20.04 LTS",
        category_id: 10,
    },
    OsType {
        id: 1002,
        description: "Ubuntu 22.04 LTS",
        category_id: 10,
    },
    OsType {
        id: 1003,
        description: "Ubuntu 24.04 LTS",
        category_id: 10,
    },
    OsType {
        id: 1004,
        description: "Debian GNU/Linux 11 (64-bit)",
        category_id: 2,
    },
    OsType {
        id: 1005,
        description: "Debian GNU/Linux 12 (64-bit)",
        category_id: 2,
    },
    OsType {
        id: 1006,
        description: "Debian GNU/Linux 13 (64-bit)",
        category_id: 2,
    },
    OsType {
        id: 1007,
        description: "Red Hat Enterprise Linux 9",
        category_id: 4,
    },
    OsType {
        id: 1008,
        description: "Rocky Linux 8",
        category_id: 1001,
    },
    OsType {
        id: 1009,
        description: "Rocky Linux 9",
        category_id: 1001,
    },
    OsType {
        id: 1010,
        description: "AlmaLinux 8",
        category_id: 1002,
    },
    OsType {
        id: 1011,
        description: "AlmaLinux 9",
        category_id: 1002,
    },
    OsType {
        id: 1012,
        description: "FreeBSD (64-bit)",
        category_id: 9,
    },
    OsType {
        id: 1013,
        description: "Windows Server 2019 (64-bit)",
        category_id: 6,
    },
    OsType {
        id: 1014,
        description: "Windows Server 2022 (64-bit)",
        category_id: 6,
    },
    OsType {
        id: 1015,
        description: "Windows 10 (64-bit)",
        category_id: 6,
    },
    OsType {
        id: 1016,
        description: "Windows 11 (64-bit)",
        category_id: 6,
    },
];

/// The namespace of every catalogue uuid.
const NAMESPACE: [u8; 16] = *b"trellis-guest-os";

fn v5(kind: &str, name: &str) -> String {
    let mut h = Sha1::new();
    h.update(NAMESPACE);
    h.update(kind.as_bytes());
    h.update(b":");
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .to_string()
}

impl OsType {
    pub fn uuid(&self) -> String {
        v5("ostype", self.description)
    }
    pub fn category(&self) -> OsCategory {
        OS_CATEGORIES
            .iter()
            .copied()
            .find(|c| c.id == self.category_id)
            .expect("every OS type names a listed category")
    }
    /// The entry with this uuid.
    pub fn by_uuid(uuid: &str) -> Option<OsType> {
        OS_TYPES.iter().copied().find(|t| t.uuid() == uuid)
    }
    /// The entry with this description, compared without regard to case.
    pub fn by_description(description: &str) -> Option<OsType> {
        OS_TYPES
            .iter()
            .copied()
            .find(|t| t.description.eq_ignore_ascii_case(description))
    }
    /// The entry a stored description names; an unknown one (written before the catalogue
    /// existed) reads as the default.
    pub fn of_stored(description: &str) -> OsType {
        Self::by_description(description)
            .or_else(|| Self::by_description(DEFAULT_OS_TYPE))
            .expect("the default OS type is listed")
    }
}

impl OsCategory {
    pub fn uuid(&self) -> String {
        v5("oscategory", self.name)
    }
    pub fn by_uuid(uuid: &str) -> Option<OsCategory> {
        OS_CATEGORIES.iter().copied().find(|c| c.uuid() == uuid)
    }
}

/// `listOsTypes`'s `description` filter: an entry equal to it (case-insensitive) alone when
/// there is one — so `description=Other (64-bit)` finds exactly one row, as Packer and
/// Terraform require — else every entry containing it; sorted by description.
pub fn search(description: Option<&str>) -> Vec<OsType> {
    let mut out: Vec<OsType> = match description.map(str::trim).filter(|d| !d.is_empty()) {
        None => OS_TYPES.to_vec(),
        Some(d) => match OsType::by_description(d) {
            Some(exact) => vec![exact],
            None => {
                let needle = d.to_lowercase();
                OS_TYPES
                    .iter()
                    .copied()
                    .filter(|t| t.description.to_lowercase().contains(&needle))
                    .collect()
            }
        },
    };
    out.sort_by_key(|t| t.description);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn uuids_are_stable_distinct_and_version_5() {
        let other = OsType::by_description("Other (64-bit)").unwrap();
        assert_eq!(
            other.uuid(),
            OsType::by_description("other (64-BIT)").unwrap().uuid()
        );
        let u = uuid::Uuid::parse_str(&other.uuid()).unwrap();
        assert_eq!(u.get_version_num(), 5);
        let all: HashSet<String> = OS_TYPES.iter().map(|t| t.uuid()).collect();
        assert_eq!(all.len(), OS_TYPES.len());
        let cats: HashSet<String> = OS_CATEGORIES.iter().map(|c| c.uuid()).collect();
        assert_eq!(cats.len(), OS_CATEGORIES.len());
        assert!(all.is_disjoint(&cats));
        assert_eq!(OsType::by_uuid(&other.uuid()), Some(other));
    }

    #[test]
    fn every_type_has_its_category_and_ids_are_unique() {
        let ids: HashSet<i64> = OS_TYPES.iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), OS_TYPES.len());
        for t in OS_TYPES {
            assert_eq!(t.category().id, t.category_id);
        }
    }

    #[test]
    fn description_filter_prefers_the_exact_row() {
        // "Other (64-bit)" is exact: one row, although a substring search alone would also be one.
        assert_eq!(search(Some("Other (64-bit)")).len(), 1);
        assert_eq!(
            search(Some("other linux (64-bit)"))[0].description,
            "Other Linux (64-bit)"
        );
        // Substring otherwise, sorted.
        let ubuntu: Vec<&str> = search(Some("Ubuntu"))
            .iter()
            .map(|t| t.description)
            .collect();
        assert!(ubuntu.len() >= 5);
        let mut sorted = ubuntu.clone();
        sorted.sort();
        assert_eq!(ubuntu, sorted);
        assert!(search(Some("Plan 9")).is_empty());
        assert_eq!(search(None).len(), OS_TYPES.len());
    }

    #[test]
    fn unknown_stored_descriptions_read_as_the_default() {
        assert_eq!(
            OsType::of_stored("Something old").description,
            DEFAULT_OS_TYPE
        );
        assert_eq!(
            OsType::of_stored("Rocky Linux 9").description,
            "Rocky Linux 9"
        );
    }
}
