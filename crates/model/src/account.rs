//! Account and user states.

/// State of an account, and of a user: CloudStack's `Account.State` and `User.State` have the
/// same values, written in lower case, so both entities share this one enum. Only an enabled
/// user of an enabled account may log in, sign requests or own new instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Enabled,
    Disabled,
    Locked,
}

impl AccountState {
    pub const ALL: [AccountState; 3] = [
        AccountState::Enabled,
        AccountState::Disabled,
        AccountState::Locked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Enabled => "enabled",
            AccountState::Disabled => "disabled",
            AccountState::Locked => "locked",
        }
    }

    /// Exact parse of the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_enabled(self) -> bool {
        self == AccountState::Enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips() {
        for state in AccountState::ALL {
            assert_eq!(AccountState::parse(state.as_str()), Some(state));
        }
        assert_eq!(
            AccountState::ALL.map(AccountState::as_str),
            ["enabled", "disabled", "locked"]
        );
    }

    #[test]
    fn unknown_names_do_not_parse() {
        for name in ["", "Enabled", "ENABLED", "active", "locked "] {
            assert_eq!(AccountState::parse(name), None, "{name:?}");
        }
        assert!(AccountState::Enabled.is_enabled());
        assert!(!AccountState::Locked.is_enabled());
    }
}
