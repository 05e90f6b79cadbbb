//! A withdrawal and its payout attempts as state machines.
//!
//! A withdrawal is `requested` (its amount held at once), `approved` by staff (above the
//! tenant's threshold by two different people), `paying` while an attempt is at a PSP, and ends
//! `paid` (the one final journal) or `rejected` (the hold released). A failed attempt leaves it
//! `payout_failed`, funds still held, until a retry, a manual payout or a rejection. `paid` and
//! `rejected` never change again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::text::text_enum;

text_enum! {
    pub enum WithdrawalState ("withdrawal state") {
        Requested = "requested",
        Approved = "approved",
        Paying = "paying",
        PayoutFailed = "payout_failed",
        Paid = "paid",
        Rejected = "rejected",
    }
}

impl WithdrawalState {
    /// As staff read it (the back office, and the server's answers to staff).
    pub fn staff_label(self) -> &'static str {
        match self {
            WithdrawalState::Requested => "requested",
            WithdrawalState::Approved => "approved",
            WithdrawalState::Paying => "paying",
            WithdrawalState::Paid => "paid",
            WithdrawalState::Rejected => "rejected",
            WithdrawalState::PayoutFailed => "payout failed",
        }
    }
}

text_enum! {
    pub enum AttemptState ("payout attempt state") {
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
        Unknown = "unknown",
    }
}

impl AttemptState {
    /// Still at the PSP: neither retried nor given up on before a recheck.
    pub fn is_open(self) -> bool {
        matches!(self, AttemptState::Pending | AttemptState::Unknown)
    }
}

/// What staff can do to a withdrawal: the buttons of its page and the server's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Approve,
    Reject,
    StartPayout,
    RetryPayout,
    MarkPaid,
    /// Asks the PSP for the latest attempt's real state.
    Recheck,
}

impl ActionKind {
    pub const ALL: [ActionKind; 6] = [
        ActionKind::Approve,
        ActionKind::Reject,
        ActionKind::StartPayout,
        ActionKind::RetryPayout,
        ActionKind::MarkPaid,
        ActionKind::Recheck,
    ];

    /// The action's name in keys, the timeline and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Approve => "approve",
            ActionKind::Reject => "reject",
            ActionKind::StartPayout => "start_payout",
            ActionKind::RetryPayout => "retry_payout",
            ActionKind::MarkPaid => "mark_paid",
            ActionKind::Recheck => "recheck",
        }
    }
}

/// The first of two approvals, as the staff member about to act sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstApproval {
    NotGiven,
    /// Given by the staff member about to act: the second must come from someone else.
    ByActor,
    ByOther,
}

/// The withdrawal's latest payout attempt (the one a retry or a recheck is about).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestAttempt {
    pub number: i32,
    pub state: AttemptState,
    /// Failed only because the PSP had no record of it, not by the PSP's own word: the payout
    /// may still exist, so a retry sends it again under its own key instead of a new one.
    pub failure_inferred: bool,
    /// When it ended (or started, while it has not): the retry cooldown counts from here.
    pub ended_at: DateTime<Utc>,
}

/// Everything besides its state that decides what may happen to a withdrawal now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Above the tenant's two-person threshold for its currency.
    pub needs_two_approvals: bool,
    pub first_approval: FirstApproval,
    /// The first of its attempts still open at the PSP (`pending` or `unknown`), if any.
    pub open_attempt: Option<i32>,
    pub latest: Option<LatestAttempt>,
    /// Attempts sent to a PSP so far (payouts marked paid by hand do not count).
    pub attempts_at_provider: i64,
    /// The tenant's retry policy.
    pub attempts_max: u32,
    pub retry_cooldown_s: u32,
    pub now: DateTime<Utc>,
}

impl Facts {
    /// When the retry cooldown after the latest attempt ends.
    pub fn retry_allowed_at(&self) -> Option<DateTime<Utc>> {
        self.latest.map(|latest| {
            latest.ended_at + chrono::Duration::seconds(i64::from(self.retry_cooldown_s))
        })
    }

    fn latest_open(&self) -> bool {
        self.latest.is_some_and(|latest| latest.state.is_open())
    }

    fn latest_is(&self, state: AttemptState) -> bool {
        self.latest.is_some_and(|latest| latest.state == state)
    }

    /// Approves, or above the threshold records the first of two approvals. One person can
    /// never give both.
    fn approve(&self) -> Result<Next, Refusal> {
        match (self.needs_two_approvals, self.first_approval) {
            (true, FirstApproval::NotGiven) => Ok(Next::FirstApproval),
            (_, FirstApproval::ByActor) => Err(Refusal::SamePersonTwice),
            (_, first) => Ok(Next::Approved {
                second: first == FirstApproval::ByOther,
            }),
        }
    }

    /// Reject and mark-paid settle funds that a PSP may still be paying out: refused while any
    /// attempt is open (its answer, or a recheck, decides first).
    fn unless_open(&self, next: Next) -> Result<Next, Refusal> {
        match self.open_attempt {
            Some(number) => Err(Refusal::AttemptOpen { number }),
            None => Ok(next),
        }
    }

    /// The retry policy: at most `attempts_max` attempts (an inferred failure is re-sent under
    /// its own key, so it needs no new one), and none before the cooldown has passed.
    fn next_attempt(&self) -> Result<Next, Refusal> {
        let resend = self.latest.filter(|latest| latest.failure_inferred);
        if resend.is_none() && self.attempts_at_provider >= i64::from(self.attempts_max) {
            return Err(Refusal::RetryLimit {
                attempts: self.attempts_at_provider,
            });
        }
        if let Some(allowed_at) = self.retry_allowed_at()
            && self.now < allowed_at
        {
            let wait_ms = (allowed_at - self.now).num_milliseconds();
            return Err(Refusal::Cooldown {
                allowed_at,
                wait_s: ((wait_ms + 999) / 1000).max(1),
            });
        }
        Ok(match resend {
            Some(latest) => Next::Resend {
                number: latest.number,
            },
            None => Next::NewAttempt,
        })
    }

    /// Only an attempt still open at the PSP can be rechecked.
    fn recheck(&self) -> Result<Next, Refusal> {
        match self.latest {
            None => Err(Refusal::NothingAttempted),
            Some(latest) if !latest.state.is_open() => Err(Refusal::AttemptSettled {
                number: latest.number,
                state: latest.state,
            }),
            Some(latest) => Ok(Next::Recheck {
                number: latest.number,
            }),
        }
    }
}

/// What an allowed action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Above the threshold with no approval yet: the first of two; still `requested`.
    FirstApproval,
    /// `approved` (by the second of two people when `second`).
    Approved { second: bool },
    /// `rejected`: the held funds go back to the player.
    Rejected,
    /// A new attempt goes to the PSP: `paying`.
    NewAttempt,
    /// The latest attempt failed only by inference: it goes to the PSP again under its own key.
    Resend { number: i32 },
    /// A retry while the latest attempt is still open (`pending` or `unknown`): the PSP is asked
    /// first, then the retry is
    /// decided again ([`WithdrawalState::decide`]); an attempt is never retried blind.
    RecheckFirst,
    /// Paid outside any PSP: `paid`.
    MarkedPaid,
    /// The PSP is asked about attempt `number`; its answer decides the state.
    Recheck { number: i32 },
}

impl Next {
    /// The withdrawal's state once the action is done (the recheck's answer may move it on).
    pub fn state_after(self, from: WithdrawalState) -> WithdrawalState {
        match self {
            Next::FirstApproval => WithdrawalState::Requested,
            Next::Approved { .. } => WithdrawalState::Approved,
            Next::Rejected => WithdrawalState::Rejected,
            Next::NewAttempt | Next::Resend { .. } => WithdrawalState::Paying,
            Next::MarkedPaid => WithdrawalState::Paid,
            Next::RecheckFirst | Next::Recheck { .. } => from,
        }
    }
}

/// The kind of a refusal, as its stable error code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
    InvalidStateTransition,
    Forbidden,
    RetryLimitReached,
    RetryCooldown,
}

/// Why an action is not possible now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The action does not exist from this state (the loser of two concurrent actions reads
    /// this).
    State {
        action: ActionKind,
        state: WithdrawalState,
    },
    /// Reject or mark-paid while attempt `number` is open at the PSP.
    AttemptOpen { number: i32 },
    /// The first approver may not give the second approval.
    SamePersonTwice,
    /// The retry policy's limit: `attempts` were made.
    RetryLimit { attempts: i64 },
    /// The retry policy's cooldown runs for `wait_s` more seconds.
    Cooldown {
        allowed_at: DateTime<Utc>,
        wait_s: i64,
    },
    /// A recheck with no attempt made.
    NothingAttempted,
    /// A recheck of an attempt that has its answer.
    AttemptSettled { number: i32, state: AttemptState },
}

impl Refusal {
    pub fn code(self) -> RefusalCode {
        match self {
            Refusal::SamePersonTwice => RefusalCode::Forbidden,
            Refusal::RetryLimit { .. } => RefusalCode::RetryLimitReached,
            Refusal::Cooldown { .. } => RefusalCode::RetryCooldown,
            Refusal::State { .. }
            | Refusal::AttemptOpen { .. }
            | Refusal::NothingAttempted
            | Refusal::AttemptSettled { .. } => RefusalCode::InvalidStateTransition,
        }
    }

    /// When to ask again, for a refusal that only has to wait.
    pub fn retry_after_s(self) -> Option<u64> {
        match self {
            Refusal::Cooldown { wait_s, .. } => Some(wait_s.unsigned_abs()),
            _ => None,
        }
    }

    /// The retry policy refuses "not now", not "not in this state": the page still offers the
    /// action, so whoever clicks it reads why and until when.
    pub fn is_policy_wait(self) -> bool {
        matches!(self, Refusal::RetryLimit { .. } | Refusal::Cooldown { .. })
    }

    pub fn message(self) -> String {
        match self {
            Refusal::State { action, state } => state_refusal(action, state).to_owned(),
            Refusal::AttemptOpen { number } => format!(
                "Payout attempt {number} is still open at the provider: recheck it or wait for its answer. Nothing was changed."
            ),
            Refusal::SamePersonTwice => "You gave the first approval of this withdrawal: a different staff member must give the second.".to_owned(),
            Refusal::RetryLimit { attempts } => format!(
                "This withdrawal has had {attempts} payout attempts, the most the policy allows: mark it paid manually or reject it."
            ),
            Refusal::Cooldown { allowed_at, wait_s } => format!(
                "The retry cooldown is running: the next retry is allowed at {} UTC (in {}).",
                allowed_at.format("%H:%M:%S"),
                duration_words(wait_s)
            ),
            Refusal::NothingAttempted => {
                "No payout was attempted yet: there is nothing to recheck.".to_owned()
            }
            Refusal::AttemptSettled { number, state } => format!(
                "Attempt {number} has already {}: there is nothing to recheck.",
                state.as_str()
            ),
        }
    }
}

/// Why `action` is not possible in `state`, the first line that applies.
fn state_refusal(action: ActionKind, state: WithdrawalState) -> &'static str {
    use ActionKind as A;
    use WithdrawalState as S;
    match (action, state) {
        (_, S::Rejected) => "This withdrawal is already rejected.",
        (_, S::Paid) => "This withdrawal is already paid.",
        (A::Approve, _) | (A::Reject, S::Approved) => "This withdrawal is already approved.",
        (_, S::Requested) => "This withdrawal is not approved yet.",
        (A::Reject | A::MarkPaid, S::Paying) => {
            "A payout attempt is at the provider: recheck it first."
        }
        (A::StartPayout, S::PayoutFailed) => "The last payout attempt failed: use Retry payout.",
        (A::StartPayout, S::Paying) => "A payout is already in progress.",
        (A::RetryPayout, S::Approved) => "No payout was attempted yet: use Start payout.",
        (A::RetryPayout, S::Paying) => {
            "The latest payout attempt is still unresolved at the provider; nothing was retried. Recheck it first."
        }
        _ => "This withdrawal is not in a state that allows this.",
    }
}

impl WithdrawalState {
    /// The transition table: what `action` does in this state given `facts`, or why it is
    /// refused. The server's guards and the page's buttons both come from here; when several
    /// refusals apply, the state's comes first, then open attempts, then the retry limit, then
    /// the cooldown.
    pub fn check(self, action: ActionKind, facts: &Facts) -> Result<Next, Refusal> {
        use ActionKind as A;
        use WithdrawalState as S;
        match (action, self) {
            (A::Recheck, _) => facts.recheck(),
            (A::Approve, S::Requested) => facts.approve(),
            (A::Reject, S::Requested | S::PayoutFailed) => facts.unless_open(Next::Rejected),
            (A::MarkPaid, S::Approved | S::PayoutFailed) => facts.unless_open(Next::MarkedPaid),
            (A::StartPayout, S::Approved) | (A::RetryPayout, S::PayoutFailed) => {
                facts.next_attempt()
            }
            (A::RetryPayout, S::Paying) if facts.latest_open() => Ok(Next::RecheckFirst),
            (action, state) => Err(Refusal::State { action, state }),
        }
    }

    /// As [`WithdrawalState::check`], for the step that changes the withdrawal, with no
    /// recheck left to make: a retry whose latest attempt is still unresolved is refused.
    pub fn decide(self, action: ActionKind, facts: &Facts) -> Result<Next, Refusal> {
        match self.check(action, facts)? {
            Next::RecheckFirst => Err(Refusal::State {
                action,
                state: self,
            }),
            next => Ok(next),
        }
    }

    /// Whether the page offers `action`: the table allows it, or only the retry policy's wait
    /// stands in the way.
    pub fn offers(self, action: ActionKind, facts: &Facts) -> bool {
        match self.check(action, facts) {
            // A retry over an attempt that is merely pending is not offered: its answer is
            // still expected. Over an `unknown` one it is (the PSP is asked first).
            Ok(Next::RecheckFirst) => facts.latest_is(AttemptState::Unknown),
            Ok(_) => true,
            Err(refusal) => refusal.is_policy_wait(),
        }
    }

    /// An attempt succeeded: true while the withdrawal still holds the funds it pays (it is
    /// settled now); false once they went back or were paid by another attempt (the PSP paid
    /// twice: the payout is booked against the player).
    pub fn holds_funds(self) -> bool {
        matches!(
            self,
            WithdrawalState::Approved | WithdrawalState::Paying | WithdrawalState::PayoutFailed
        )
    }

    /// The state after an attempt failed: a withdrawal being paid by it (`latest`) waits for a
    /// retry, funds still held.
    pub fn after_attempt_failed(self, latest: bool) -> WithdrawalState {
        match self {
            WithdrawalState::Paying if latest => WithdrawalState::PayoutFailed,
            state => state,
        }
    }

    /// The state after an attempt failed by inference turned out to be at the PSP after all:
    /// being paid again, when it is the latest.
    pub fn after_attempt_reopened(self, latest: bool) -> WithdrawalState {
        match self {
            WithdrawalState::PayoutFailed if latest => WithdrawalState::Paying,
            state => state,
        }
    }
}

/// What a PSP says about a payout attempt, or its silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Pending,
    Succeeded,
    Failed,
    /// The call got no usable answer (a timeout, a connection error).
    NoAnswer,
}

/// What a report does to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStep {
    /// `succeeded` (also after it was reported failed: the PSP paid).
    Succeed,
    /// `failed`.
    Fail,
    /// An inferred failure is `pending` again: the PSP has it after all.
    Reopen,
    /// An `unknown` attempt reached the PSP: `pending`.
    MarkPending,
    /// No answer for a `pending` attempt: `unknown`, rechecked and never retried blind.
    MarkUnknown,
    /// Nothing new, for this reason.
    Ignore(&'static str),
}

impl AttemptState {
    /// The attempt's transition table. A succeeded attempt never changes again.
    pub fn on_report(self, report: Report, failure_inferred: bool) -> AttemptStep {
        use AttemptState as S;
        match (report, self) {
            (Report::Succeeded, S::Succeeded) => {
                AttemptStep::Ignore("the attempt has already succeeded")
            }
            (Report::Succeeded, _) => AttemptStep::Succeed,
            (Report::Failed, S::Succeeded) => {
                AttemptStep::Ignore("the attempt has succeeded; a success never reverts")
            }
            (Report::Failed, S::Failed) => AttemptStep::Ignore("the attempt has already failed"),
            (Report::Failed, _) => AttemptStep::Fail,
            (Report::Pending, S::Failed) if failure_inferred => AttemptStep::Reopen,
            (Report::Pending, S::Unknown) => AttemptStep::MarkPending,
            (Report::Pending, _) => AttemptStep::Ignore("nothing new: the attempt is not unknown"),
            (Report::NoAnswer, S::Pending) => AttemptStep::MarkUnknown,
            (Report::NoAnswer, _) => AttemptStep::Ignore("the attempt has an answer already"),
        }
    }
}

/// Seconds as people say them: "45 s", "4 min 30 s", "2 h 5 min", "3 d 4 h".
pub fn duration_words(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        ..60 => format!("{seconds} s"),
        60..3600 if seconds % 60 == 0 => format!("{} min", seconds / 60),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        3600..86400 => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
        _ => format!("{} d {} h", seconds / 86400, (seconds % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests;
