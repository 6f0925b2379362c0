//! Projects: a shared owner for the resources of several accounts.

/// Lifecycle state of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectState {
    Active,
    /// New resources are refused; existing ones keep running.
    Suspended,
}

impl ProjectState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectState::Active => "Active",
            ProjectState::Suspended => "Suspended",
        }
    }

    /// Case-insensitive (list filters arrive in any case).
    pub fn parse(s: &str) -> Option<Self> {
        [ProjectState::Active, ProjectState::Suspended]
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A member account's role in a project: admins manage members and the project itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRole {
    Admin,
    Regular,
}

impl ProjectRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Admin => "Admin",
            ProjectRole::Regular => "Regular",
        }
    }

    /// Case-insensitive (`roletype=admin` is accepted upstream too).
    pub fn parse(s: &str) -> Option<Self> {
        [ProjectRole::Admin, ProjectRole::Regular]
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_roles_round_trip() {
        for s in [ProjectState::Active, ProjectState::Suspended] {
            assert_eq!(ProjectState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ProjectState::parse("active"), Some(ProjectState::Active));
        assert_eq!(ProjectState::parse("Disabled"), None);
        for r in [ProjectRole::Admin, ProjectRole::Regular] {
            assert_eq!(ProjectRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(ProjectRole::parse("admin"), Some(ProjectRole::Admin));
        assert_eq!(ProjectRole::parse("Owner"), None);
    }
}
