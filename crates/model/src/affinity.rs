//! Affinity groups: the placement rules an instance can be deployed under.

/// The kind of an affinity group (`listAffinityGroupTypes`). Strict rules exclude hosts; the
/// non-strict ones only order the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AffinityType {
    /// Members run on different hosts.
    HostAntiAffinity,
    /// Members run on one host.
    HostAffinity,
    /// Members prefer different hosts.
    NonStrictHostAntiAffinity,
    /// Members prefer one host.
    NonStrictHostAffinity,
}

impl AffinityType {
    /// In `listAffinityGroupTypes` order: clients that take the first type when none is given
    /// (Ansible's `affinity_group`) get host anti-affinity, as against upstream.
    pub const ALL: [AffinityType; 4] = [
        AffinityType::HostAntiAffinity,
        AffinityType::HostAffinity,
        AffinityType::NonStrictHostAntiAffinity,
        AffinityType::NonStrictHostAffinity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AffinityType::HostAntiAffinity => "host anti-affinity",
            AffinityType::HostAffinity => "host affinity",
            AffinityType::NonStrictHostAntiAffinity => "non-strict host anti-affinity",
            AffinityType::NonStrictHostAffinity => "non-strict host affinity",
        }
    }

    /// The wire name, compared case-insensitively (clients send `host anti-affinity`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Does a violation exclude the host (rather than only rank it lower)?
    pub fn is_strict(self) -> bool {
        matches!(
            self,
            AffinityType::HostAntiAffinity | AffinityType::HostAffinity
        )
    }

    /// Do members want to be apart?
    pub fn is_anti(self) -> bool {
        matches!(
            self,
            AffinityType::HostAntiAffinity | AffinityType::NonStrictHostAntiAffinity
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_parse_loosely() {
        for t in AffinityType::ALL {
            assert_eq!(AffinityType::parse(t.as_str()), Some(t));
        }
        assert_eq!(
            AffinityType::parse(" Host Anti-Affinity "),
            Some(AffinityType::HostAntiAffinity)
        );
        assert_eq!(AffinityType::parse("ExplicitDedication"), None);
        assert_eq!(AffinityType::ALL[0], AffinityType::HostAntiAffinity);
        assert!(AffinityType::HostAffinity.is_strict() && !AffinityType::HostAffinity.is_anti());
        assert!(!AffinityType::NonStrictHostAntiAffinity.is_strict());
    }
}
