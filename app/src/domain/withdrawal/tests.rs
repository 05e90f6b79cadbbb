use super::*;

use chrono::TimeZone;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

/// No approval, no attempt, a policy of 3 attempts and a 300 s cooldown.
fn plain() -> Facts {
    Facts {
        needs_two_approvals: false,
        first_approval: FirstApproval::NotGiven,
        open_attempt: None,
        latest: None,
        attempts_at_provider: 0,
        attempts_max: 3,
        retry_cooldown_s: 300,
        now: at(0),
    }
}

/// Attempt 1 in `state`, ended (or started) 10 minutes ago.
fn with_latest(state: AttemptState) -> Facts {
    Facts {
        open_attempt: state.is_open().then_some(1),
        latest: Some(LatestAttempt {
            number: 1,
            state,
            failure_inferred: false,
            ended_at: at(-600),
        }),
        attempts_at_provider: 1,
        ..plain()
    }
}

/// The table's answer as one line: `ok <next>` or the refusal's message.
fn outcome(state: WithdrawalState, action: ActionKind, facts: &Facts) -> String {
    match state.check(action, facts) {
        Ok(next) => format!("ok {next:?}"),
        Err(refusal) => refusal.message(),
    }
}

const REJECTED: &str = "This withdrawal is already rejected.";
const PAID: &str = "This withdrawal is already paid.";
const APPROVED: &str = "This withdrawal is already approved.";
const NOT_APPROVED: &str = "This withdrawal is not approved yet.";
const AT_PROVIDER: &str = "A payout attempt is at the provider: recheck it first.";
const USE_RETRY: &str = "The last payout attempt failed: use Retry payout.";
const IN_PROGRESS: &str = "A payout is already in progress.";
const USE_START: &str = "No payout was attempted yet: use Start payout.";
const UNRESOLVED: &str = "The latest payout attempt is still unresolved at the provider; nothing was retried. Recheck it first.";
const NOTHING: &str = "No payout was attempted yet: there is nothing to recheck.";

/// Every state × action with no attempt made; columns in the order of `ActionKind::ALL`.
#[test]
fn every_state_and_action_without_attempts() {
    let expected: [(WithdrawalState, [&str; 6]); 6] = [
        (
            WithdrawalState::Requested,
            [
                "ok Approved { second: false }",
                "ok Rejected",
                NOT_APPROVED,
                NOT_APPROVED,
                NOT_APPROVED,
                NOTHING,
            ],
        ),
        (
            WithdrawalState::Approved,
            [
                APPROVED,
                APPROVED,
                "ok NewAttempt",
                USE_START,
                "ok MarkedPaid",
                NOTHING,
            ],
        ),
        (
            WithdrawalState::Paying,
            [
                APPROVED,
                AT_PROVIDER,
                IN_PROGRESS,
                UNRESOLVED,
                AT_PROVIDER,
                NOTHING,
            ],
        ),
        (
            WithdrawalState::PayoutFailed,
            [
                APPROVED,
                "ok Rejected",
                USE_RETRY,
                "ok NewAttempt",
                "ok MarkedPaid",
                NOTHING,
            ],
        ),
        (
            WithdrawalState::Paid,
            [PAID, PAID, PAID, PAID, PAID, NOTHING],
        ),
        (
            WithdrawalState::Rejected,
            [REJECTED, REJECTED, REJECTED, REJECTED, REJECTED, NOTHING],
        ),
    ];
    let facts = plain();
    for (state, row) in expected {
        for (action, want) in ActionKind::ALL.into_iter().zip(row) {
            assert_eq!(
                outcome(state, action, &facts),
                want,
                "{state:?} × {action:?}"
            );
        }
    }
}

/// Every state × action while the latest attempt is `unknown` (open at the PSP).
#[test]
fn every_state_and_action_with_an_unknown_attempt() {
    let open = "Payout attempt 1 is still open at the provider: recheck it or wait for its answer. Nothing was changed.";
    let expected: [(WithdrawalState, [&str; 6]); 6] = [
        (
            WithdrawalState::Requested,
            [
                "ok Approved { second: false }",
                open,
                NOT_APPROVED,
                NOT_APPROVED,
                NOT_APPROVED,
                "ok Recheck { number: 1 }",
            ],
        ),
        (
            WithdrawalState::Approved,
            [
                APPROVED,
                APPROVED,
                "ok NewAttempt",
                USE_START,
                open,
                "ok Recheck { number: 1 }",
            ],
        ),
        (
            WithdrawalState::Paying,
            [
                APPROVED,
                AT_PROVIDER,
                IN_PROGRESS,
                "ok RecheckFirst",
                AT_PROVIDER,
                "ok Recheck { number: 1 }",
            ],
        ),
        (
            WithdrawalState::PayoutFailed,
            [
                APPROVED,
                open,
                USE_RETRY,
                "ok NewAttempt",
                open,
                "ok Recheck { number: 1 }",
            ],
        ),
        (
            WithdrawalState::Paid,
            [PAID, PAID, PAID, PAID, PAID, "ok Recheck { number: 1 }"],
        ),
        (
            WithdrawalState::Rejected,
            [
                REJECTED,
                REJECTED,
                REJECTED,
                REJECTED,
                REJECTED,
                "ok Recheck { number: 1 }",
            ],
        ),
    ];
    let facts = with_latest(AttemptState::Unknown);
    for (state, row) in expected {
        for (action, want) in ActionKind::ALL.into_iter().zip(row) {
            assert_eq!(
                outcome(state, action, &facts),
                want,
                "{state:?} × {action:?}"
            );
        }
    }
}

#[test]
fn a_pending_attempt_is_not_retried_and_a_settled_one_not_rechecked() {
    let pending = with_latest(AttemptState::Pending);
    let paying = WithdrawalState::Paying;
    // Asked for anyway, a retry over a pending attempt asks the PSP first, then is refused.
    assert_eq!(
        outcome(paying, ActionKind::RetryPayout, &pending),
        "ok RecheckFirst"
    );
    assert_eq!(
        paying
            .decide(ActionKind::RetryPayout, &pending)
            .unwrap_err()
            .message(),
        UNRESOLVED
    );
    assert!(!paying.offers(ActionKind::RetryPayout, &pending));
    let failed = with_latest(AttemptState::Failed);
    assert_eq!(
        outcome(WithdrawalState::PayoutFailed, ActionKind::Recheck, &failed),
        "Attempt 1 has already failed: there is nothing to recheck."
    );
}

#[test]
fn a_retry_after_the_recheck_is_decided_without_another() {
    let unknown = with_latest(AttemptState::Unknown);
    let refused = WithdrawalState::Paying
        .decide(ActionKind::RetryPayout, &unknown)
        .unwrap_err();
    assert_eq!(refused.message(), UNRESOLVED);
    assert_eq!(refused.code(), RefusalCode::InvalidStateTransition);
    assert_eq!(
        WithdrawalState::PayoutFailed
            .decide(ActionKind::RetryPayout, &with_latest(AttemptState::Failed)),
        Ok(Next::NewAttempt)
    );
}

#[test]
fn above_the_threshold_two_different_people_approve() {
    let requested = WithdrawalState::Requested;
    let two = Facts {
        needs_two_approvals: true,
        ..plain()
    };
    assert_eq!(
        requested.check(ActionKind::Approve, &two),
        Ok(Next::FirstApproval)
    );
    let mine = Facts {
        first_approval: FirstApproval::ByActor,
        ..two.clone()
    };
    let refused = requested.check(ActionKind::Approve, &mine).unwrap_err();
    assert_eq!(refused.code(), RefusalCode::Forbidden);
    assert_eq!(
        refused.message(),
        "You gave the first approval of this withdrawal: a different staff member must give the second."
    );
    assert!(!requested.offers(ActionKind::Approve, &mine));
    let theirs = Facts {
        first_approval: FirstApproval::ByOther,
        ..two
    };
    assert_eq!(
        requested.check(ActionKind::Approve, &theirs),
        Ok(Next::Approved { second: true })
    );
    // The threshold raised after a first approval: its giver still cannot give the second.
    let raised = Facts {
        needs_two_approvals: false,
        ..mine
    };
    assert_eq!(
        requested.check(ActionKind::Approve, &raised),
        Err(Refusal::SamePersonTwice)
    );
}

#[test]
fn the_retry_policy_refuses_but_the_page_still_offers_the_retry() {
    let failed = WithdrawalState::PayoutFailed;
    let cooling = Facts {
        latest: Some(LatestAttempt {
            ended_at: at(-100),
            ..with_latest(AttemptState::Failed).latest.unwrap()
        }),
        ..with_latest(AttemptState::Failed)
    };
    let refused = failed.check(ActionKind::RetryPayout, &cooling).unwrap_err();
    assert_eq!(refused.code(), RefusalCode::RetryCooldown);
    assert_eq!(refused.retry_after_s(), Some(200));
    assert_eq!(
        refused.message(),
        format!(
            "The retry cooldown is running: the next retry is allowed at {} UTC (in 3 min 20 s).",
            at(200).format("%H:%M:%S")
        )
    );
    assert!(failed.offers(ActionKind::RetryPayout, &cooling));
    assert_eq!(cooling.retry_allowed_at(), Some(at(200)));

    // The limit wins over the cooldown.
    let spent = Facts {
        attempts_at_provider: 3,
        ..cooling.clone()
    };
    let refused = failed.check(ActionKind::RetryPayout, &spent).unwrap_err();
    assert_eq!(refused.code(), RefusalCode::RetryLimitReached);
    assert_eq!(
        refused.message(),
        "This withdrawal has had 3 payout attempts, the most the policy allows: mark it paid manually or reject it."
    );
    assert!(failed.offers(ActionKind::RetryPayout, &spent));

    // A failure only inferred is sent again under its key, whatever the limit.
    let inferred = Facts {
        latest: Some(LatestAttempt {
            failure_inferred: true,
            ..with_latest(AttemptState::Failed).latest.unwrap()
        }),
        attempts_at_provider: 3,
        ..with_latest(AttemptState::Failed)
    };
    assert_eq!(
        failed.check(ActionKind::RetryPayout, &inferred),
        Ok(Next::Resend { number: 1 })
    );
}

#[test]
fn a_state_refusal_hides_the_action() {
    for state in WithdrawalState::ALL {
        for action in ActionKind::ALL {
            for facts in [plain(), with_latest(AttemptState::Unknown)] {
                let offered = state.offers(action, &facts);
                match state.check(action, &facts) {
                    Ok(_) => assert!(offered),
                    Err(refusal) => assert_eq!(offered, refusal.is_policy_wait()),
                }
            }
        }
    }
}

#[test]
fn states_after_an_action_and_after_an_attempt() {
    let paying = WithdrawalState::Paying;
    assert_eq!(
        Next::NewAttempt.state_after(WithdrawalState::Approved),
        paying
    );
    assert_eq!(Next::Recheck { number: 1 }.state_after(paying), paying);
    assert_eq!(
        Next::FirstApproval.state_after(WithdrawalState::Requested),
        WithdrawalState::Requested
    );
    assert_eq!(
        paying.after_attempt_failed(true),
        WithdrawalState::PayoutFailed
    );
    assert_eq!(paying.after_attempt_failed(false), paying);
    assert_eq!(
        WithdrawalState::Rejected.after_attempt_failed(true),
        WithdrawalState::Rejected
    );
    assert_eq!(
        WithdrawalState::PayoutFailed.after_attempt_reopened(true),
        paying
    );
    assert_eq!(
        WithdrawalState::PayoutFailed.after_attempt_reopened(false),
        WithdrawalState::PayoutFailed
    );
    let holding: Vec<_> = WithdrawalState::ALL
        .into_iter()
        .filter(|state| state.holds_funds())
        .collect();
    assert_eq!(
        holding,
        [
            WithdrawalState::Approved,
            WithdrawalState::Paying,
            WithdrawalState::PayoutFailed
        ]
    );
}

/// Every attempt state × report, for an attempt that failed by the PSP's word and for one
/// that failed only by inference.
#[test]
fn every_attempt_state_and_report() {
    use AttemptStep::*;
    let reports = [
        Report::Pending,
        Report::Succeeded,
        Report::Failed,
        Report::NoAnswer,
    ];
    let expected: [(AttemptState, [AttemptStep; 4]); 4] = [
        (
            AttemptState::Pending,
            [
                Ignore("nothing new: the attempt is not unknown"),
                Succeed,
                Fail,
                MarkUnknown,
            ],
        ),
        (
            AttemptState::Succeeded,
            [
                Ignore("nothing new: the attempt is not unknown"),
                Ignore("the attempt has already succeeded"),
                Ignore("the attempt has succeeded; a success never reverts"),
                Ignore("the attempt has an answer already"),
            ],
        ),
        (
            AttemptState::Failed,
            [
                Ignore("nothing new: the attempt is not unknown"),
                Succeed,
                Ignore("the attempt has already failed"),
                Ignore("the attempt has an answer already"),
            ],
        ),
        (
            AttemptState::Unknown,
            [
                MarkPending,
                Succeed,
                Fail,
                Ignore("the attempt has an answer already"),
            ],
        ),
    ];
    for (state, row) in expected {
        for (report, want) in reports.into_iter().zip(row) {
            assert_eq!(
                state.on_report(report, false),
                want,
                "{state:?} × {report:?}"
            );
        }
    }
    assert_eq!(
        AttemptState::Failed.on_report(Report::Pending, true),
        Reopen
    );
    assert_eq!(
        AttemptState::Unknown.on_report(Report::Pending, true),
        MarkPending
    );
}

#[test]
fn states_decode_what_they_store_and_nothing_else() {
    for state in WithdrawalState::ALL {
        assert_eq!(
            WithdrawalState::try_from(state.as_str().to_owned()),
            Ok(state)
        );
    }
    for state in AttemptState::ALL {
        assert_eq!(AttemptState::try_from(state.as_str().to_owned()), Ok(state));
    }
    assert!(WithdrawalState::try_from("cancelled".to_owned()).is_err());
    assert!(AttemptState::try_from("Pending".to_owned()).is_err());
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(duration_words(-5), "0 s");
    assert_eq!(duration_words(45), "45 s");
    assert_eq!(duration_words(120), "2 min");
    assert_eq!(duration_words(270), "4 min 30 s");
    assert_eq!(duration_words(7500), "2 h 5 min");
    assert_eq!(duration_words(273_600), "3 d 4 h");
}
