//! The steps a job records around its side effects, each declared beside its undo (a saga).
//!
//! A step is written to the job row before or after an external side effect, so that a job
//! resumed after a crash (here or on another server) knows what already happened. Only the
//! deploy saga has steps today; `JobStep::ALL` is the whole vocabulary stored in `async_jobs.step`.

/// A step reached by a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStep {
    /// `prepare` ran and its answer (NICs, details) was applied.
    Prepared,
    /// `create` is about to run (written durably): its outcome is unknown until it answers.
    CreatePending,
    /// `create` succeeded: the instance exists on the extension's side.
    Created,
}

/// What a resumed or failed job does about a step's side effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// Nothing to undo: the step left nothing behind that `delete` would not release later.
    Nothing,
    /// The outcome is unknown: ask the extension for `status` first, never repeat blindly.
    ObserveFirst,
    /// Run `delete` on the extension to remove what was made.
    DeleteOnExtension,
}

impl JobStep {
    pub const ALL: [JobStep; 3] = [JobStep::Prepared, JobStep::CreatePending, JobStep::Created];

    /// The name stored in `async_jobs.step`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStep::Prepared => "prepared",
            JobStep::CreatePending => "create-pending",
            JobStep::Created => "created",
        }
    }

    pub fn parse(text: &str) -> Option<JobStep> {
        JobStep::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The undo declared for this step.
    pub fn undo(self) -> Undo {
        match self {
            JobStep::Prepared => Undo::Nothing,
            JobStep::CreatePending => Undo::ObserveFirst,
            JobStep::Created => Undo::DeleteOnExtension,
        }
    }

    /// Must this step survive a power loss (see `Store::job_set_step`)?
    pub fn durable(self) -> bool {
        self.undo() == Undo::ObserveFirst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_round_trip_and_match_stored_rows() {
        for s in JobStep::ALL {
            assert_eq!(JobStep::parse(s.as_str()), Some(s));
        }
        // The names rows written by earlier versions carry.
        assert_eq!(
            JobStep::parse("create-pending"),
            Some(JobStep::CreatePending)
        );
        assert_eq!(JobStep::parse("bogus"), None);
        assert!(JobStep::CreatePending.durable());
        assert!(!JobStep::Created.durable());
    }
}
