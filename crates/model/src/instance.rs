//! Instance lifecycle: states with `can_*` guards and pure transitions that name the extension
//! action to run.

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    Starting,
    Running,
    Stopping,
    Stopped,
    Destroyed,
    Expunging,
    Expunged,
    Error,
}

impl VmState {
    /// Every state, in lifecycle order.
    pub const ALL: [VmState; 8] = [
        VmState::Starting,
        VmState::Running,
        VmState::Stopping,
        VmState::Stopped,
        VmState::Destroyed,
        VmState::Expunging,
        VmState::Expunged,
        VmState::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Starting => "Starting",
            VmState::Running => "Running",
            VmState::Stopping => "Stopping",
            VmState::Stopped => "Stopped",
            VmState::Destroyed => "Destroyed",
            VmState::Expunging => "Expunging",
            VmState::Expunged => "Expunged",
            VmState::Error => "Error",
        }
    }

    pub fn parse(s: &str) -> Option<VmState> {
        [
            VmState::Starting,
            VmState::Running,
            VmState::Stopping,
            VmState::Stopped,
            VmState::Destroyed,
            VmState::Expunging,
            VmState::Expunged,
            VmState::Error,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }

    pub fn can_start(self) -> bool {
        matches!(self, VmState::Stopped)
    }
    pub fn can_stop(self) -> bool {
        matches!(self, VmState::Running | VmState::Error)
    }
    pub fn can_reboot(self) -> bool {
        matches!(self, VmState::Running)
    }
    pub fn can_destroy(self) -> bool {
        matches!(self, VmState::Running | VmState::Stopped | VmState::Error)
    }
    pub fn can_recover(self) -> bool {
        matches!(self, VmState::Destroyed)
    }
    pub fn can_expunge(self) -> bool {
        matches!(self, VmState::Destroyed)
    }
    /// Stable states are the ones power sync may correct.
    pub fn is_stable(self) -> bool {
        matches!(self, VmState::Running | VmState::Stopped)
    }
    /// States in which the instance occupies its host.
    pub fn on_host(self) -> bool {
        matches!(
            self,
            VmState::Starting | VmState::Running | VmState::Stopping
        )
    }

    fn refuse(self, op: &str) -> Error {
        Error::invalid_state(format!(
            "Unable to {op} the instance: it is in state {}",
            self.as_str()
        ))
    }

    /// start: Stopped → Starting (runs `create` on first start, `start` after).
    pub fn begin_start(self) -> Result<VmState> {
        if self.can_start() {
            Ok(VmState::Starting)
        } else {
            Err(self.refuse("start"))
        }
    }
    /// stop: Running → Stopping.
    pub fn begin_stop(self) -> Result<VmState> {
        if self.can_stop() {
            Ok(VmState::Stopping)
        } else {
            Err(self.refuse("stop"))
        }
    }
    pub fn begin_reboot(self) -> Result<VmState> {
        if self.can_reboot() {
            Ok(VmState::Running)
        } else {
            Err(self.refuse("reboot"))
        }
    }
    pub fn begin_destroy(self) -> Result<VmState> {
        if self.can_destroy() {
            Ok(VmState::Destroyed)
        } else {
            Err(self.refuse("destroy"))
        }
    }
    pub fn begin_recover(self) -> Result<VmState> {
        if self.can_recover() {
            Ok(VmState::Stopped)
        } else {
            Err(self.refuse("recover"))
        }
    }
    pub fn begin_expunge(self) -> Result<VmState> {
        if self.can_expunge() {
            Ok(VmState::Expunging)
        } else {
            Err(self.refuse("expunge"))
        }
    }

    /// What an observed power state means for a stable instance, if it changes anything.
    pub fn after_power_report(self, powered_on: bool) -> Option<VmState> {
        match (self, powered_on) {
            (VmState::Running, false) => Some(VmState::Stopped),
            (VmState::Stopped, true) => Some(VmState::Running),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards() {
        assert_eq!(VmState::Stopped.begin_start().unwrap(), VmState::Starting);
        assert!(VmState::Running.begin_start().is_err());
        assert!(VmState::Starting.begin_stop().is_err());
        assert_eq!(VmState::Running.begin_stop().unwrap(), VmState::Stopping);
        assert!(VmState::Stopped.begin_reboot().is_err());
        assert!(VmState::Destroyed.begin_destroy().is_err());
        assert_eq!(
            VmState::Destroyed.begin_recover().unwrap(),
            VmState::Stopped
        );
        assert!(VmState::Running.begin_expunge().is_err());
        assert_eq!(
            VmState::Running.after_power_report(false),
            Some(VmState::Stopped)
        );
        assert_eq!(VmState::Running.after_power_report(true), None);
        assert_eq!(VmState::Starting.after_power_report(false), None);
        assert_eq!(VmState::parse("running"), Some(VmState::Running));
    }

    #[test]
    fn an_error_instance_is_destroyed_then_recovered_or_expunged() {
        assert!(VmState::Error.begin_start().is_err());
        assert_eq!(VmState::Error.begin_destroy().unwrap(), VmState::Destroyed);
        assert_eq!(
            VmState::Destroyed.begin_recover().unwrap(),
            VmState::Stopped
        );
        assert!(VmState::Error.begin_recover().is_err());
        assert!(!VmState::Error.is_stable(), "power sync leaves Error alone");
    }
}
