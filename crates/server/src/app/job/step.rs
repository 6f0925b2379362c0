//! The journal a job keeps around its side effects, and what a resumed job does about each
//! action it finds interrupted (a saga: every step declared beside its resumption).
//!
//! Before an extension action with a side effect runs, the job records `<action>:pending`; the
//! action's outcome (`ok` or `failed`) is recorded with the job's next write. A job resumed after
//! a crash or a lost lease (here or on another server) reads the journal back and never runs an
//! interrupted action a second time blindly: see [`JobStep::on_resume`].
//!
//! The journal lives in `async_jobs.step`, one `<action>:<phase>` entry per line. Rows written
//! by earlier versions hold one of `prepared`, `create-pending`, `created`, read as the entries
//! they meant.

use trellis_ext_protocol as proto;
use trellis_model::{Error, Result};

/// Where an action of a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// About to run or running: its outcome is unknown until it answers.
    Pending,
    /// It ran and succeeded.
    Ok,
    /// It ran and failed.
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Ok => "ok",
            Phase::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Phase> {
        [Phase::Pending, Phase::Ok, Phase::Failed]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

/// What a resumed job does with an action its journal shows `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Harmless to run again (it only reads, or the extension's contract makes it idempotent).
    Repeat,
    /// Ask the extension for `status`: this power state means it happened (done); the opposite
    /// means it did not (run it); unknown means the outcome stays unknown.
    Observe { done_when: proto::PowerState },
    /// The deploy saga observes `create` itself (power on: done; off: start it; unknown: the
    /// instance needs attention).
    ObserveCreate,
    /// Nothing can tell: finish the job as "outcome unknown", never run it again.
    Never,
}

/// The journal of one job: an entry per action, in the order first run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStep {
    entries: Vec<(String, Phase)>,
}

impl JobStep {
    /// Read `async_jobs.step`. An entry this server cannot read is an error, never ignored.
    pub fn parse(text: &str) -> Result<JobStep> {
        let mut journal = JobStep::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line {
                "prepared" => journal.set(proto::action::PREPARE, Phase::Ok),
                "create-pending" => {
                    journal.set(proto::action::PREPARE, Phase::Ok);
                    journal.set(proto::action::CREATE, Phase::Pending);
                }
                "created" => journal.set(proto::action::CREATE, Phase::Ok),
                _ => {
                    let phase = line
                        .rsplit_once(':')
                        .and_then(|(action, phase)| Some((action, Phase::parse(phase)?)));
                    match phase {
                        Some((action, phase)) => journal.set(action, phase),
                        None => {
                            return Err(Error::internal(format!(
                                "a job recorded a step this server cannot read: {line:?}"
                            )))
                        }
                    }
                }
            }
        }
        Ok(journal)
    }

    /// The text stored in `async_jobs.step`.
    pub fn render(&self) -> String {
        self.entries
            .iter()
            .map(|(action, phase)| format!("{action}:{}", phase.as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Where `action` stands, if the job got to it.
    pub fn phase(&self, action: &str) -> Option<Phase> {
        self.entries
            .iter()
            .find(|(a, _)| a == action)
            .map(|(_, p)| *p)
    }

    pub fn set(&mut self, action: &str, phase: Phase) {
        match self.entries.iter_mut().find(|(a, _)| a == action) {
            Some(entry) => entry.1 = phase,
            None => self.entries.push((action.to_owned(), phase)),
        }
    }

    /// Forget `action` (its resumption has been decided).
    pub fn take(&mut self, action: &str) -> Option<Phase> {
        let at = self.entries.iter().position(|(a, _)| a == action)?;
        Some(self.entries.remove(at).1)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Does running `action` change anything (and so belong in the journal)?
    pub fn has_side_effect(action: &str) -> bool {
        !matches!(
            action,
            proto::action::STATUS | proto::action::STATUSES | proto::action::GETCONSOLE
        )
    }

    /// What a resumed job does with `action` found pending.
    pub fn on_resume(action: &str) -> Resume {
        match action {
            proto::action::PREPARE => Resume::Repeat,
            proto::action::CREATE => Resume::ObserveCreate,
            proto::action::START => Resume::Observe {
                done_when: proto::PowerState::PowerOn,
            },
            proto::action::STOP => Resume::Observe {
                done_when: proto::PowerState::PowerOff,
            },
            // reboot, delete, custom actions, template capture: nothing observable tells.
            _ => Resume::Never,
        }
    }

    /// Must the pending mark of `action` survive a power loss before it runs? `create` is
    /// synced (an unknown create costs an instance's attention); the others survive a crash of
    /// the process (the commit is in the operating system's hands) but not a power loss on
    /// SQLite (PostgreSQL commits are durable anyway).
    pub fn durable(action: &str) -> bool {
        action == proto::action::CREATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trips_and_reads_earlier_rows() {
        let mut j = JobStep::default();
        j.set("prepare", Phase::Ok);
        j.set("create", Phase::Pending);
        j.set("My Action: 2", Phase::Failed);
        let text = j.render();
        assert_eq!(text, "prepare:ok\ncreate:pending\nMy Action: 2:failed");
        assert_eq!(JobStep::parse(&text).unwrap(), j);
        // The names rows written by earlier versions carry.
        let old = JobStep::parse("create-pending").unwrap();
        assert_eq!(old.phase("create"), Some(Phase::Pending));
        assert_eq!(old.phase("prepare"), Some(Phase::Ok));
        assert_eq!(
            JobStep::parse("created").unwrap().phase("create"),
            Some(Phase::Ok)
        );
        assert!(JobStep::parse("bogus").is_err());
        assert!(JobStep::parse("create:maybe").is_err());
        assert!(JobStep::parse("").unwrap().is_empty());
    }

    #[test]
    fn resumption_rules() {
        assert_eq!(JobStep::on_resume("prepare"), Resume::Repeat);
        assert_eq!(JobStep::on_resume("create"), Resume::ObserveCreate);
        assert_eq!(
            JobStep::on_resume("start"),
            Resume::Observe {
                done_when: proto::PowerState::PowerOn
            }
        );
        for never in ["reboot", "delete", "createtemplate", "RunBackup"] {
            assert_eq!(JobStep::on_resume(never), Resume::Never, "{never}");
        }
        assert!(!JobStep::has_side_effect("status"));
        assert!(JobStep::has_side_effect("Echo"));
        assert!(JobStep::durable("create") && !JobStep::durable("Echo"));
    }
}
