//! The integrity checks that look across business objects: deposits and withdrawals against the
//! journals that move their money, hold balances against open withdrawals, and every journal's
//! kind against the accounts it moves between (the one rule table, [`JOURNAL_KIND_RULES`]).
//!
//! Each rule is one set-based query (hash and merge joins, no per-row round trips or lookups),
//! run inside the caller's REPEATABLE READ snapshot and scoped to one tenant when one is given.
//! A journal belongs to an object when its reference is exactly `<object>:<id>` as Kasa writes
//! it, compared as text so that the joins can hash. The matches are gathered in full
//! (`MATERIALIZED`) before ordering and the report's limit, so that the planner does not walk a
//! whole table in id order probing row by row in the hope of stopping early.

use app::domain::ids::TenantId;
use sqlx::PgConnection;

use super::integrity::{IntegrityViolation, rows};

/// The business object a journal kind belongs to. Its journals carry the reference
/// `<object>:<id>` (`deposit:<uuid>`, `withdrawal:<uuid>`), naming an object of their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessObject {
    Deposit,
    Withdrawal,
    /// A game provider's bet, win or rollback (`game_transactions`).
    GameTransaction,
}

impl BusinessObject {
    /// The reference prefix, and the object type the checks name (`deposits`, `withdrawals`).
    pub const fn as_str(self) -> &'static str {
        match self {
            BusinessObject::Deposit => "deposit",
            BusinessObject::Withdrawal => "withdrawal",
            BusinessObject::GameTransaction => "game_transaction",
        }
    }
}

/// What one journal kind may do: the business object it belongs to, if any, and the
/// (debit account kind, credit account kind) pairs each of its transfers must be one of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalKindRule {
    pub kind: &'static str,
    pub object: Option<BusinessObject>,
    pub transfers: &'static [(&'static str, &'static str)],
}

/// Every journal kind Kasa posts, with the accounts it moves between. A journal of a kind not
/// listed here is a violation (`unknown_journal_kind`), and so is any transfer whose account
/// kinds are not listed for its journal's kind (`transfer_not_allowed_for_kind`). A new money
/// movement adds its kind here in the same change that posts it.
pub const JOURNAL_KIND_RULES: &[JournalKindRule] = &[
    JournalKindRule {
        kind: "deposit_capture",
        object: Some(BusinessObject::Deposit),
        transfers: &[("psp_clearing", "player_cash")],
    },
    JournalKindRule {
        kind: "withdrawal_request",
        object: Some(BusinessObject::Withdrawal),
        transfers: &[("player_cash", "player_withdrawal_hold")],
    },
    JournalKindRule {
        kind: "withdrawal_reject",
        object: Some(BusinessObject::Withdrawal),
        transfers: &[("player_withdrawal_hold", "player_cash")],
    },
    JournalKindRule {
        kind: "withdrawal_payout",
        object: Some(BusinessObject::Withdrawal),
        transfers: &[("player_withdrawal_hold", "psp_clearing")],
    },
    // A PSP's success that arrives after the withdrawal was rejected or paid through another
    // attempt: the player owes the money back, from cash and, for what cash does not cover,
    // from a receivable that may go negative.
    JournalKindRule {
        kind: "withdrawal_payout_recovery",
        object: Some(BusinessObject::Withdrawal),
        transfers: &[
            ("player_cash", "psp_clearing"),
            ("player_receivable", "psp_clearing"),
        ],
    },
    JournalKindRule {
        kind: "bet",
        object: Some(BusinessObject::GameTransaction),
        transfers: &[("player_cash", "house")],
    },
    JournalKindRule {
        kind: "win",
        object: Some(BusinessObject::GameTransaction),
        transfers: &[("house", "player_cash")],
    },
    JournalKindRule {
        kind: "bet_rollback",
        object: Some(BusinessObject::GameTransaction),
        transfers: &[("house", "player_cash")],
    },
    JournalKindRule {
        kind: "fee",
        object: None,
        transfers: &[("player_cash", "fees")],
    },
    // Staff adjustments and reconciliation corrections, in either direction.
    JournalKindRule {
        kind: "adjustment",
        object: None,
        transfers: &[
            ("adjustments", "player_cash"),
            ("player_cash", "adjustments"),
        ],
    },
    // Only the benchmarks (`kasa bench ledger`, `kasa bench audit`) post it, in scratch
    // databases they create and drop, and they end with this check; no feature moves money
    // between two players.
    JournalKindRule {
        kind: "bench_transfer",
        object: None,
        transfers: &[("player_cash", "player_cash")],
    },
];

/// Withdrawal states whose funds are still held (not paid out, not released).
const OPEN_WITHDRAWAL_STATES: &[&str] = &["requested", "approved", "paying", "payout_failed"];

/// Runs every cross-object rule; one list of violations per rule, each at most `limit` long.
pub(super) async fn check_objects(
    connection: &mut PgConnection,
    tenant_id: Option<TenantId>,
    limit: i64,
) -> Result<Vec<Vec<IntegrityViolation>>, sqlx::Error> {
    Ok(vec![
        deposit_captures(connection, tenant_id, limit).await?,
        withdrawal_journals(connection, tenant_id, limit).await?,
        hold_balances(connection, tenant_id, limit).await?,
        game_transactions(connection, tenant_id, limit).await?,
        unknown_kinds(connection, tenant_id, limit).await?,
        transfers_not_allowed(connection, tenant_id, limit).await?,
        journals_without_object(connection, tenant_id, limit).await?,
    ])
}

/// Every captured deposit has exactly one `deposit_capture` journal (`deposit:<id>`), of its
/// amount and currency, between its player's cash and its provider's clearing account, and named
/// by `capture_journal_id`; a deposit in any other state has none. Capture journals that name no
/// deposit of their tenant are left to `journals_without_object`.
async fn deposit_captures(
    connection: &mut PgConnection,
    tenant_id: Option<TenantId>,
    limit: i64,
) -> Result<Vec<IntegrityViolation>, sqlx::Error> {
    let found: Vec<rows::DepositCaptureMismatch> = sqlx::query_as(
        "WITH journal_totals AS (
             SELECT j.id AS journal_id, d.id AS deposit_id,
                    coalesce(sum(t.amount_minor), 0) AS amount_minor,
                    count(DISTINCT t.currency) AS currency_count,
                    min(t.currency::text) AS currency,
                    coalesce(bool_and(coalesce(dr.player_id, d.player_id) = d.player_id
                                      AND coalesce(cr.player_id, d.player_id) = d.player_id
                                      AND coalesce(dr.provider::text, d.provider::text) = d.provider::text
                                      AND coalesce(cr.provider::text, d.provider::text) = d.provider::text), true)
                        AS accounts_match
             FROM ledger_journals j
             JOIN deposits d ON d.tenant_id = j.tenant_id AND j.reference::text = 'deposit:' || d.id::text
             LEFT JOIN ledger_transfers t ON t.journal_id = j.id
             LEFT JOIN ledger_accounts dr ON dr.id = t.debit_account_id
             LEFT JOIN ledger_accounts cr ON cr.id = t.credit_account_id
             WHERE j.kind::text = 'deposit_capture' AND ($1::uuid IS NULL OR j.tenant_id = $1)
             GROUP BY j.id, d.id
         ), deposit_totals AS (
             SELECT deposit_id, count(*) AS journal_count, array_agg(journal_id) AS journal_ids,
                    min(amount_minor) AS amount_minor, max(currency_count) AS currency_count,
                    min(currency) AS currency, bool_and(accounts_match) AS accounts_match
             FROM journal_totals
             GROUP BY deposit_id
         ), checked AS MATERIALIZED (
             SELECT d.id, d.tenant_id, d.state, coalesce(dt.journal_count, 0) AS journal_count,
                    CASE
                        WHEN d.state = 'captured' AND dt.journal_count IS NULL
                            THEN 'captured without a capture journal'
                        WHEN d.state = 'captured' AND dt.journal_count > 1
                            THEN format('captured with %s capture journals', dt.journal_count)
                        WHEN d.state <> 'captured' AND dt.journal_count IS NOT NULL
                            THEN format('%s, yet has %s capture journal(s)', d.state, dt.journal_count)
                        WHEN dt.journal_count IS NULL
                            THEN NULL
                        WHEN dt.currency_count <> 1
                            THEN 'the capture journal moves no money or more than one currency'
                        WHEN dt.amount_minor <> d.amount_minor OR dt.currency <> d.currency
                            THEN format('the capture journal moves %s %s (minor units), the deposit is %s %s',
                                        dt.amount_minor, dt.currency, d.amount_minor, d.currency)
                        WHEN NOT dt.accounts_match
                            THEN 'the capture journal moves another player''s or provider''s money'
                        WHEN d.capture_journal_id IS NULL OR NOT (d.capture_journal_id = ANY (dt.journal_ids))
                            THEN 'capture_journal_id names no capture journal of this deposit'
                    END AS problem
             FROM deposits d
             LEFT JOIN deposit_totals dt ON dt.deposit_id = d.id
             WHERE ($1::uuid IS NULL OR d.tenant_id = $1)
         )
         SELECT id AS deposit_id, tenant_id, state, journal_count AS capture_journals, problem FROM checked
         WHERE problem IS NOT NULL
         ORDER BY id LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(&mut *connection)
    .await?;
    Ok(found.into_iter().map(Into::into).collect())
}

/// Every withdrawal has exactly one `withdrawal_request` journal; a paid one exactly one
/// `withdrawal_payout` and a rejected one exactly one `withdrawal_reject`, and no other state
/// has either. Each moves the withdrawal's amount in its currency, only its player's accounts,
/// and is the one its `*_journal_id` column names. Journals that name no withdrawal of their
/// tenant are left to `journals_without_object`.
async fn withdrawal_journals(
    connection: &mut PgConnection,
    tenant_id: Option<TenantId>,
    limit: i64,
) -> Result<Vec<IntegrityViolation>, sqlx::Error> {
    let found: Vec<rows::WithdrawalJournalMismatch> = sqlx::query_as(
        "WITH journal_totals AS (
             SELECT j.id AS journal_id, j.kind::text AS kind, w.id AS withdrawal_id,
                    coalesce(sum(t.amount_minor), 0) AS amount_minor,
                    count(DISTINCT t.currency) AS currency_count,
                    min(t.currency::text) AS currency,
                    coalesce(bool_and(coalesce(dr.player_id, w.player_id) = w.player_id
                                      AND coalesce(cr.player_id, w.player_id) = w.player_id), true)
                        AS accounts_match
             FROM ledger_journals j
             JOIN withdrawals w
               ON w.tenant_id = j.tenant_id AND j.reference::text = 'withdrawal:' || w.id::text
             LEFT JOIN ledger_transfers t ON t.journal_id = j.id
             LEFT JOIN ledger_accounts dr ON dr.id = t.debit_account_id
             LEFT JOIN ledger_accounts cr ON cr.id = t.credit_account_id
             WHERE j.kind::text IN ('withdrawal_request', 'withdrawal_reject', 'withdrawal_payout')
               AND ($1::uuid IS NULL OR j.tenant_id = $1)
             GROUP BY j.id, j.kind, w.id
         ), kind_totals AS (
             SELECT withdrawal_id, kind, count(*) AS journal_count, array_agg(journal_id) AS journal_ids,
                    min(amount_minor) AS amount_minor, max(currency_count) AS currency_count,
                    min(currency) AS currency, bool_and(accounts_match) AS accounts_match
             FROM journal_totals
             GROUP BY withdrawal_id, kind
         ), expected AS (
             SELECT w.id, w.tenant_id, w.state, w.amount_minor, w.currency::text AS currency,
                    e.kind, e.journals_expected, e.linked_journal_id, e.linked_column
             FROM withdrawals w
             CROSS JOIN LATERAL (VALUES
                 ('withdrawal_request', 1, w.request_journal_id, 'request_journal_id'),
                 ('withdrawal_reject', (w.state = 'rejected')::int, w.release_journal_id, 'release_journal_id'),
                 ('withdrawal_payout', (w.state = 'paid')::int, w.payout_journal_id, 'payout_journal_id')
             ) AS e (kind, journals_expected, linked_journal_id, linked_column)
             WHERE ($1::uuid IS NULL OR w.tenant_id = $1)
         ), checked AS MATERIALIZED (
             SELECT x.id, x.tenant_id, x.state, x.kind, coalesce(kt.journal_count, 0) AS journal_count,
                    CASE
                        WHEN coalesce(kt.journal_count, 0) <> x.journals_expected
                            THEN format('%s with %s %s journal(s), expected %s',
                                        x.state, coalesce(kt.journal_count, 0), x.kind, x.journals_expected)
                        WHEN kt.journal_count IS NULL
                            THEN NULL
                        WHEN kt.currency_count <> 1
                            THEN format('its %s journal moves no money or more than one currency', x.kind)
                        WHEN kt.amount_minor <> x.amount_minor OR kt.currency <> x.currency
                            THEN format('its %s journal moves %s %s (minor units), the withdrawal is %s %s',
                                        x.kind, kt.amount_minor, kt.currency, x.amount_minor, x.currency)
                        WHEN NOT kt.accounts_match
                            THEN format('its %s journal moves another player''s money', x.kind)
                        WHEN x.linked_journal_id IS NULL OR NOT (x.linked_journal_id = ANY (kt.journal_ids))
                            THEN format('%s names no %s journal of this withdrawal', x.linked_column, x.kind)
                    END AS problem
             FROM expected x
             LEFT JOIN kind_totals kt ON kt.withdrawal_id = x.id AND kt.kind = x.kind
         )
         SELECT id AS withdrawal_id, tenant_id, state, kind, journal_count AS journals, problem FROM checked
         WHERE problem IS NOT NULL
         ORDER BY id, kind LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(&mut *connection)
    .await?;
    Ok(found.into_iter().map(Into::into).collect())
}

/// Every game provider transaction has exactly one journal (`game_transaction:<id>`) of its
/// kind (bet → `bet`, win → `win`, rollback → `bet_rollback`), amount and currency, moving only
/// its player's cash, named by `journal_id`; a tombstone has none. A rollback with a journal
/// reverses exactly its bet: a bet of the same provider and player, in the same amount and
/// currency. Journals that name no transaction are left to `journals_without_object`.
async fn game_transactions(
    connection: &mut PgConnection,
    tenant_id: Option<TenantId>,
    limit: i64,
) -> Result<Vec<IntegrityViolation>, sqlx::Error> {
    let found: Vec<rows::GameTransactionMismatch> = sqlx::query_as(
        "WITH journal_totals AS (
             SELECT j.id AS journal_id, j.kind::text AS journal_kind, g.id AS transaction_id,
                    coalesce(sum(t.amount_minor), 0) AS amount_minor,
                    count(DISTINCT t.currency) AS currency_count,
                    min(t.currency::text) AS currency,
                    coalesce(bool_and(coalesce(dr.player_id, g.player_id) = g.player_id
                                      AND coalesce(cr.player_id, g.player_id) = g.player_id), true)
                        AS accounts_match
             FROM ledger_journals j
             JOIN game_transactions g
               ON g.tenant_id = j.tenant_id AND j.reference::text = 'game_transaction:' || g.id::text
             LEFT JOIN ledger_transfers t ON t.journal_id = j.id
             LEFT JOIN ledger_accounts dr ON dr.id = t.debit_account_id
             LEFT JOIN ledger_accounts cr ON cr.id = t.credit_account_id
             WHERE ($1::uuid IS NULL OR j.tenant_id = $1)
             GROUP BY j.id, j.kind, g.id
         ), totals AS (
             SELECT transaction_id, count(*) AS journal_count, array_agg(journal_id) AS journal_ids,
                    min(journal_kind) AS journal_kind, min(amount_minor) AS amount_minor,
                    max(currency_count) AS currency_count, min(currency) AS currency,
                    bool_and(accounts_match) AS accounts_match
             FROM journal_totals
             GROUP BY transaction_id
         ), checked AS MATERIALIZED (
             SELECT g.id, g.tenant_id, g.kind, coalesce(jt.journal_count, 0) AS journal_count,
                    CASE
                        WHEN g.tombstone AND jt.journal_count IS NOT NULL
                            THEN format('a tombstone, yet has %s journal(s)', jt.journal_count)
                        WHEN g.tombstone
                            THEN NULL
                        WHEN coalesce(jt.journal_count, 0) <> 1
                            THEN format('%s journal(s), expected 1', coalesce(jt.journal_count, 0))
                        WHEN jt.journal_kind <> CASE g.kind WHEN 'rollback' THEN 'bet_rollback'
                                                            ELSE g.kind END
                            THEN format('its journal is of kind %s', jt.journal_kind)
                        WHEN jt.currency_count <> 1
                            THEN 'its journal moves no money or more than one currency'
                        WHEN jt.amount_minor <> g.amount_minor OR jt.currency <> g.currency::text
                            THEN format('its journal moves %s %s (minor units), the call is %s %s',
                                        jt.amount_minor, jt.currency, g.amount_minor, g.currency)
                        WHEN NOT jt.accounts_match
                            THEN 'its journal moves another player''s money'
                        WHEN g.journal_id IS NULL OR NOT (g.journal_id = ANY (jt.journal_ids))
                            THEN 'journal_id names no journal of this call'
                        WHEN g.kind = 'rollback' AND bet.id IS NULL
                            THEN 'it reverses no bet of its player'
                        WHEN g.kind = 'rollback'
                             AND (bet.amount_minor <> g.amount_minor OR bet.currency <> g.currency)
                            THEN format('it returns %s %s (minor units) of a bet of %s %s',
                                        g.amount_minor, g.currency, bet.amount_minor, bet.currency)
                    END AS problem
             FROM game_transactions g
             LEFT JOIN totals jt ON jt.transaction_id = g.id
             LEFT JOIN game_transactions bet
               ON g.kind = 'rollback' AND bet.kind = 'bet' AND bet.tenant_id = g.tenant_id
              AND bet.provider = g.provider AND bet.tx_id = g.reference_tx
              AND bet.player_id = g.player_id
             WHERE ($1::uuid IS NULL OR g.tenant_id = $1)
         )
         SELECT id AS transaction_id, tenant_id, kind, journal_count AS journals, problem FROM checked
         WHERE problem IS NOT NULL
         ORDER BY id LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(&mut *connection)
    .await?;
    Ok(found.into_iter().map(Into::into).collect())
}

/// Each player's hold balance, per currency, equals the sum of their open withdrawals in it
/// (a player with open withdrawals and no hold account counts as a hold of zero).
async fn hold_balances(
    connection: &mut PgConnection,
    tenant_id: Option<TenantId>,
    limit: i64,
) -> Result<Vec<IntegrityViolation>, sqlx::Error> {
    let found: Vec<rows::HoldBalanceMismatch> = sqlx::query_as(
        "WITH holds AS (
             SELECT b.tenant_id, b.player_id, b.currency::text AS currency, b.balance_minor
             FROM ledger_account_balances b
             WHERE b.kind = 'player_withdrawal_hold' AND ($1::uuid IS NULL OR b.tenant_id = $1)
         ), open_withdrawals AS (
             SELECT w.tenant_id, w.player_id, w.currency::text AS currency,
                    sum(w.amount_minor) AS amount_minor
             FROM withdrawals w
             WHERE w.state = ANY ($3::text[]) AND ($1::uuid IS NULL OR w.tenant_id = $1)
             GROUP BY w.tenant_id, w.player_id, w.currency
         ), mismatched AS MATERIALIZED (
             SELECT coalesce(h.tenant_id, o.tenant_id) AS tenant_id,
                    coalesce(h.player_id, o.player_id) AS player_id,
                    coalesce(h.currency, o.currency) AS currency,
                    coalesce(h.balance_minor, 0) AS hold_balance_minor,
                    coalesce(o.amount_minor, 0)::bigint AS open_withdrawals_minor
             FROM holds h
             FULL JOIN open_withdrawals o
               ON o.tenant_id = h.tenant_id AND o.player_id = h.player_id AND o.currency = h.currency
             WHERE coalesce(h.balance_minor, 0) <> coalesce(o.amount_minor, 0)
         )
         SELECT * FROM mismatched ORDER BY 1, 2, 3 LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .bind(OPEN_WITHDRAWAL_STATES)
    .fetch_all(&mut *connection)
    .await?;
    Ok(found.into_iter().map(Into::into).collect())
}

fn rule_kinds() -> Vec<&'static str> {
    JOURNAL_KIND_RULES.iter().map(|rule| rule.kind).collect()
}

/// Journals of a kind the rule table does not know.
async fn unknown_kinds(
    connection: &mut PgConnection,
    tenant_id: Option<TenantId>,
    limit: i64,
) -> Result<Vec<IntegrityViolation>, sqlx::Error> {
    let found: Vec<rows::UnknownJournalKind> = sqlx::query_as(
        "WITH unknown AS MATERIALIZED (
             SELECT j.id, j.tenant_id, j.kind::text AS kind FROM ledger_journals j
             WHERE ($1::uuid IS NULL OR j.tenant_id = $1) AND NOT (j.kind::text = ANY ($3::text[]))
         )
         SELECT id AS journal_id, tenant_id, kind FROM unknown ORDER BY id LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .bind(rule_kinds())
    .fetch_all(&mut *connection)
    .await?;
    Ok(found.into_iter().map(Into::into).collect())
}

/// Transfers of a known journal kind between account kinds the rule table does not allow for
/// it. (Transfers whose journal or accounts are missing are `transfer_misplaced`.)
async fn transfers_not_allowed(
    connection: &mut PgConnection,
    tenant_id: Option<TenantId>,
    limit: i64,
) -> Result<Vec<IntegrityViolation>, sqlx::Error> {
    let allowed: Vec<(&str, &str, &str)> = JOURNAL_KIND_RULES
        .iter()
        .flat_map(|rule| {
            rule.transfers
                .iter()
                .map(|(debit, credit)| (rule.kind, *debit, *credit))
        })
        .collect();
    let kinds: Vec<&str> = allowed.iter().map(|(kind, _, _)| *kind).collect();
    let debits: Vec<&str> = allowed.iter().map(|(_, debit, _)| *debit).collect();
    let credits: Vec<&str> = allowed.iter().map(|(_, _, credit)| *credit).collect();
    let found: Vec<rows::TransferNotAllowedForKind> = sqlx::query_as(
        "WITH allowed AS (
             SELECT * FROM unnest($3::text[], $4::text[], $5::text[]) AS a (kind, debit_kind, credit_kind)
         ), refused AS MATERIALIZED (
             SELECT t.journal_id, t.ordinal, j.kind::text AS kind,
                    d.kind::text AS debit_account_kind, c.kind::text AS credit_account_kind
             FROM ledger_transfers t
             JOIN ledger_journals j ON j.id = t.journal_id
             JOIN ledger_accounts d ON d.id = t.debit_account_id
             JOIN ledger_accounts c ON c.id = t.credit_account_id
             WHERE ($1::uuid IS NULL OR t.tenant_id = $1)
               AND j.kind::text = ANY ($3::text[])
               AND NOT EXISTS (SELECT 1 FROM allowed a
                               WHERE a.kind = j.kind::text AND a.debit_kind = d.kind::text
                                 AND a.credit_kind = c.kind::text)
         )
         SELECT * FROM refused ORDER BY 1, 2 LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .bind(kinds)
    .bind(debits)
    .bind(credits)
    .fetch_all(&mut *connection)
    .await?;
    Ok(found.into_iter().map(Into::into).collect())
}

/// Journals of a business kind whose reference names no object of that type in their tenant.
async fn journals_without_object(
    connection: &mut PgConnection,
    tenant_id: Option<TenantId>,
    limit: i64,
) -> Result<Vec<IntegrityViolation>, sqlx::Error> {
    let (kinds, objects): (Vec<&str>, Vec<&str>) = JOURNAL_KIND_RULES
        .iter()
        .filter_map(|rule| rule.object.map(|object| (rule.kind, object.as_str())))
        .unzip();
    let found: Vec<rows::JournalWithoutBusinessObject> = sqlx::query_as(
        "WITH rules AS (
             SELECT * FROM unnest($3::text[], $4::text[]) AS r (kind, object_type)
         ), orphans AS MATERIALIZED (
             SELECT j.id, j.tenant_id, j.kind::text AS kind, j.reference::text AS reference
             FROM ledger_journals j
             JOIN rules r ON r.kind = j.kind::text
             LEFT JOIN deposits d
               ON r.object_type = 'deposit' AND d.tenant_id = j.tenant_id
              AND j.reference::text = 'deposit:' || d.id::text
             LEFT JOIN withdrawals w
               ON r.object_type = 'withdrawal' AND w.tenant_id = j.tenant_id
              AND j.reference::text = 'withdrawal:' || w.id::text
             LEFT JOIN game_transactions g
               ON r.object_type = 'game_transaction' AND g.tenant_id = j.tenant_id
              AND j.reference::text = 'game_transaction:' || g.id::text
             WHERE ($1::uuid IS NULL OR j.tenant_id = $1)
               AND d.id IS NULL AND w.id IS NULL AND g.id IS NULL
         )
         SELECT id AS journal_id, tenant_id, kind, reference FROM orphans ORDER BY id LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .bind(kinds)
    .bind(objects)
    .fetch_all(&mut *connection)
    .await?;
    Ok(found.into_iter().map(Into::into).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{AccountKind, JournalKind};

    // Proves the rule table knows every journal kind the code names, lists each kind once, and
    // names only account kinds the ledger has (plus the receivable the payout recovery adds).
    #[test]
    fn rule_table_covers_every_kind_once() {
        for kind in [
            JournalKind::DEPOSIT_CAPTURE,
            JournalKind::WITHDRAWAL_REQUEST,
            JournalKind::WITHDRAWAL_REJECT,
            JournalKind::WITHDRAWAL_PAYOUT,
            JournalKind::BET,
            JournalKind::WIN,
            JournalKind::BET_ROLLBACK,
            JournalKind::FEE,
            JournalKind::ADJUSTMENT,
        ] {
            assert!(rule_kinds().contains(&kind.as_str()), "{kind} has no rule");
        }
        let mut kinds = rule_kinds();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(
            kinds.len(),
            JOURNAL_KIND_RULES.len(),
            "a kind is listed twice"
        );
        for rule in JOURNAL_KIND_RULES {
            assert!(JournalKind::parse(rule.kind).is_ok(), "{}", rule.kind);
            assert!(
                !rule.transfers.is_empty(),
                "{} allows no transfer",
                rule.kind
            );
            for account_kind in rule
                .transfers
                .iter()
                .flat_map(|(debit, credit)| [debit, credit])
            {
                assert!(
                    AccountKind::parse(account_kind).is_some(),
                    "{}: unknown account kind {account_kind}",
                    rule.kind
                );
            }
        }
    }
}
