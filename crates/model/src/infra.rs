//! Infrastructure states: the allocation state of zones, pods and clusters, and a host's
//! connection status and resource state. Every name parses exactly as it is written and shown.

/// Whether new instances may be placed in a zone, pod or cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationState {
    Enabled,
    Disabled,
}

impl AllocationState {
    pub const ALL: [AllocationState; 2] = [AllocationState::Enabled, AllocationState::Disabled];

    pub fn as_str(self) -> &'static str {
        match self {
            AllocationState::Enabled => "Enabled",
            AllocationState::Disabled => "Disabled",
        }
    }

    /// Exact enum-name parse (the `allocationstate` parameter is case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A host's connection status, shown as the host's `state` (CloudStack's `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    Up,
    Down,
    Disconnected,
    Alert,
}

impl HostStatus {
    pub const ALL: [HostStatus; 4] = [
        HostStatus::Up,
        HostStatus::Down,
        HostStatus::Disconnected,
        HostStatus::Alert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Up => "Up",
            HostStatus::Down => "Down",
            HostStatus::Disconnected => "Disconnected",
            HostStatus::Alert => "Alert",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A host's resource state: enabled or disabled for placement, or on its way into or out of
/// maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceState {
    Enabled,
    Disabled,
    PrepareForMaintenance,
    Maintenance,
    ErrorInMaintenance,
}

impl ResourceState {
    pub const ALL: [ResourceState; 5] = [
        ResourceState::Enabled,
        ResourceState::Disabled,
        ResourceState::PrepareForMaintenance,
        ResourceState::Maintenance,
        ResourceState::ErrorInMaintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceState::Enabled => "Enabled",
            ResourceState::Disabled => "Disabled",
            ResourceState::PrepareForMaintenance => "PrepareForMaintenance",
            ResourceState::Maintenance => "Maintenance",
            ResourceState::ErrorInMaintenance => "ErrorInMaintenance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl From<AllocationState> for ResourceState {
    fn from(allocation: AllocationState) -> Self {
        match allocation {
            AllocationState::Enabled => ResourceState::Enabled,
            AllocationState::Disabled => ResourceState::Disabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips() {
        for state in AllocationState::ALL {
            assert_eq!(AllocationState::parse(state.as_str()), Some(state));
        }
        for status in HostStatus::ALL {
            assert_eq!(HostStatus::parse(status.as_str()), Some(status));
        }
        for state in ResourceState::ALL {
            assert_eq!(ResourceState::parse(state.as_str()), Some(state));
        }
        assert_eq!(
            AllocationState::ALL.map(AllocationState::as_str),
            ["Enabled", "Disabled"]
        );
        assert_eq!(
            HostStatus::ALL.map(HostStatus::as_str),
            ["Up", "Down", "Disconnected", "Alert"]
        );
        assert_eq!(
            ResourceState::ALL.map(ResourceState::as_str),
            [
                "Enabled",
                "Disabled",
                "PrepareForMaintenance",
                "Maintenance",
                "ErrorInMaintenance"
            ]
        );
    }

    #[test]
    fn unknown_names_do_not_parse() {
        for name in ["", "enabled", "ENABLED", "Enable", "Disable", "Up "] {
            assert_eq!(AllocationState::parse(name), None, "{name:?}");
            assert_eq!(ResourceState::parse(name), None, "{name:?}");
        }
        for name in ["", "up", "UP", "Connecting", "Enabled"] {
            assert_eq!(HostStatus::parse(name), None, "{name:?}");
        }
        assert_eq!(ResourceState::parse("maintenance"), None);
    }

    #[test]
    fn allocation_maps_to_resource_state() {
        assert_eq!(
            ResourceState::from(AllocationState::Enabled),
            ResourceState::Enabled
        );
        assert_eq!(
            ResourceState::from(AllocationState::Disabled),
            ResourceState::Disabled
        );
    }
}
