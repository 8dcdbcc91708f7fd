//! `rolegate explain` and `rolegate simulate`: the broker's decisions replayed offline against
//! a configuration, step by step, with every policy statement and condition traced.
//!
//! Nothing here re-implements a decision: the steps are the broker's own functions
//! (`broker::steps`) and the policy engine's [`crate::policy::explain`], so an explanation
//! always agrees with what the daemon answers.
//!
//! - `create_session`: Roles Anywhere CreateSession for a certificate, profile and role.
//! - `assume_role`: STS AssumeRole's trust decision for a calling role (role chaining).
//! - `simulate`: a role's effective permissions (permission policies ∩ session policies) for
//!   one action on one resource, like `aws iam simulate-principal-policy`.

mod assume_role;
mod create_session;
mod simulate;

use core::fmt;

use crate::config::Role;
use crate::error::ApiError;
use crate::policy::{self, Decision, RequestContext, StatementTrace};

pub use assume_role::{AssumeRoleQuestion, explain_assume_role};
pub use create_session::{CreateSessionQuestion, SigningRegion, explain_create_session};
pub use simulate::{SimulateQuestion, simulate};

/// The outcome of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepStatus {
    /// The step's rule holds.
    Passed,
    /// The step's rule does not hold: the request is refused here (or at an earlier failure).
    Failed,
    /// The step could not be evaluated because a step it depends on failed.
    Skipped,
}

/// One step of a decision: a rule, whether it held, and what was looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What the step checks, e.g. `profile found and enabled`.
    pub title: String,
    /// Whether it held.
    pub status: StepStatus,
    /// Details, one line each (may contain nested indentation).
    pub details: Vec<String>,
}

/// A whole explained decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What was asked, one line each.
    pub question: Vec<String>,
    /// The steps, in the order the broker runs them.
    pub steps: Vec<Step>,
    /// `None` when allowed; otherwise the error the daemon answers (the first failed step in
    /// the broker's order).
    pub denial: Option<ApiError>,
    /// The API whose client the denial is spelled for.
    pub api: Api,
}

/// The API a question is asked of, which spells an error's code its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Roles Anywhere `POST /sessions` (`X-Amzn-ErrorType`).
    RolesAnywhere,
    /// The STS Query API (`<Code>`).
    Sts,
}

impl Api {
    /// (HTTP status, error code) as this API's client receives `error`.
    fn wire(self, error: &ApiError) -> (u16, &'static str) {
        match self {
            Api::RolesAnywhere => error.rest_wire(),
            Api::Sts => error.sts_wire(),
        }
    }
}

impl Report {
    /// Whether the request would be allowed.
    pub fn is_allowed(&self) -> bool {
        self.denial.is_none()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.question {
            writeln!(f, "{line}")?;
        }
        writeln!(f)?;
        for step in &self.steps {
            let mark = match step.status {
                StepStatus::Passed => "✔",
                StepStatus::Failed => "✘",
                StepStatus::Skipped => "-",
            };
            match step.status {
                StepStatus::Skipped => writeln!(f, "{mark} {} (skipped)", step.title)?,
                _ => writeln!(f, "{mark} {}", step.title)?,
            }
            for line in &step.details {
                writeln!(f, "    {line}")?;
            }
        }
        writeln!(f)?;
        match &self.denial {
            None => writeln!(f, "Verdict: ALLOWED"),
            Some(e) => {
                let (status, code) = self.api.wire(e);
                writeln!(f, "Verdict: DENIED — {code} (HTTP {status}, reason: {})", e.reason)?;
                writeln!(f, "  {}", e.message)
            }
        }
    }
}

/// A step builder: records steps and remembers the first failure as the denial.
#[derive(Default)]
struct Recorder {
    steps: Vec<Step>,
    denial: Option<ApiError>,
}

impl Recorder {
    fn pass(&mut self, title: impl Into<String>, details: Vec<String>) {
        self.push(title, StepStatus::Passed, details);
    }

    fn fail(&mut self, title: impl Into<String>, error: ApiError, mut details: Vec<String>) {
        details.push(error.message.clone());
        self.push(title, StepStatus::Failed, details);
        self.denial.get_or_insert(error);
    }

    fn skip(&mut self, title: impl Into<String>, needs: &str) {
        self.push(title, StepStatus::Skipped, vec![format!("needs: {needs}")]);
    }

    /// Records `result` as passed (with `details` of the value) or failed.
    fn check<T>(
        &mut self,
        title: &str,
        result: Result<T, ApiError>,
        details: impl FnOnce(&T) -> Vec<String>,
    ) -> Option<T> {
        match result {
            Ok(v) => {
                self.pass(title, details(&v));
                Some(v)
            }
            Err(e) => {
                self.fail(title, e, Vec::new());
                None
            }
        }
    }

    fn push(&mut self, title: impl Into<String>, status: StepStatus, details: Vec<String>) {
        self.steps.push(Step {
            title: title.into(),
            status,
            details,
        });
    }

    fn finish(self, api: Api, question: Vec<String>) -> Report {
        Report {
            question,
            steps: self.steps,
            denial: self.denial,
            api,
        }
    }
}

/// `role`'s trust policy explained for `ctx` (both explanations ask it the same way): the
/// decision, each statement's trace, and a step's details begun with the decision's line (its
/// outcome, and the statement that decided it).
fn explain_trust_policy(role: &Role, ctx: &RequestContext) -> (Decision, Vec<StatementTrace>, Vec<String>) {
    let (decision, traces) = policy::explain(&[&role.trust_policy], ctx);
    let details = vec![match &decision.deciding {
        Some(s) => format!("{}: decided by {s}", decision.outcome),
        None => decision.outcome.to_string(),
    }];
    (decision, traces, details)
}

/// Statement traces as indented lines (the policy engine's own rendering).
fn trace_lines(traces: &[StatementTrace]) -> Vec<String> {
    traces
        .iter()
        .flat_map(|t| t.to_string().lines().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_the_verdict_and_skips_are_not_failures() {
        let mut r = Recorder::default();
        r.pass("a", vec!["detail".into()]);
        r.skip("b", "a");
        r.fail("c", ApiError::access_denied("first", "First."), Vec::new());
        r.fail("d", ApiError::validation("second", "Second."), vec!["why".into()]);
        let report = r.finish(Api::RolesAnywhere, vec!["Question".into()]);
        assert!(!report.is_allowed());
        assert_eq!(report.denial.as_ref().map(|e| e.reason), Some("first"));
        assert_eq!(
            report.to_string(),
            "Question\n\n✔ a\n    detail\n- b (skipped)\n    needs: a\n✘ c\n    First.\n✘ d\n    why\n    Second.\n\n\
             Verdict: DENIED — AccessDeniedException (HTTP 403, reason: first)\n  First.\n"
        );
        // Each API's client sees the code its own way.
        let mut r = Recorder::default();
        r.fail("e", ApiError::validation("bad", "Bad."), Vec::new());
        let report = r.finish(Api::Sts, Vec::new());
        assert!(
            report
                .to_string()
                .ends_with("Verdict: DENIED — ValidationError (HTTP 400, reason: bad)\n  Bad.\n")
        );
    }

    #[test]
    fn no_failure_is_allowed() {
        let mut r = Recorder::default();
        assert_eq!(r.check("a", Ok::<u32, ApiError>(7), |v| vec![v.to_string()]), Some(7));
        let report = r.finish(Api::Sts, Vec::new());
        assert!(report.is_allowed());
        assert_eq!(report.to_string(), "\n✔ a\n    7\n\nVerdict: ALLOWED\n");
    }
}
