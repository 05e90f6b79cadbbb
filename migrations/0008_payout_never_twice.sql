-- An unknown payout is never paid twice, and a payout the PSP made anyway is never lost.
--
-- 1. "Not found at the PSP" fails an attempt only once its call has certainly ended plus a grace
--    period (withdrawal_policies.not_found_grace_s, at least the 30 s call timeout); until then
--    the attempt stays unknown. The call's start is payout_attempts.sent_at (a re-send of the
--    same attempt under the same PSP key moves it).
-- 2. A success that arrives after the withdrawal was rejected or paid by another attempt posts a
--    recovery journal: the player owes it back, from player_cash as far as the balance goes and
--    the rest as a player_receivable (a per-player account that may go negative: what the player
--    owes the operator). It also raises a critical reconciliation finding.

ALTER DOMAIN ledger_account_kind DROP CONSTRAINT ledger_account_kind_check;
ALTER DOMAIN ledger_account_kind ADD CONSTRAINT ledger_account_kind_check CHECK (VALUE IN (
    'player_cash', 'player_withdrawal_hold', 'player_receivable', 'psp_clearing', 'house', 'fees',
    'adjustments'));

-- Player accounts belong to a player; only a receivable among them may go below zero.
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_owner;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_owner CHECK (
    (kind IN ('player_cash', 'player_withdrawal_hold', 'player_receivable')) = (player_id IS NOT NULL)
    AND (kind = 'psp_clearing') = (provider IS NOT NULL)
    AND (player_id IS NULL OR (kind = 'player_receivable') = allow_negative));

-- As in 0003, but a player's receivable is opened as an account that may go negative.
CREATE OR REPLACE FUNCTION ledger_ensure_account(
    p_tenant_id uuid,
    p_currency text,
    p_kind text,
    p_player_id uuid,
    p_provider text,
    OUT account_id uuid,
    OUT account_allow_negative boolean
)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    FOR attempt IN 1..2 LOOP
        IF p_player_id IS NOT NULL THEN
            SELECT a.id, a.allow_negative INTO account_id, account_allow_negative
            FROM ledger_accounts a
            WHERE a.tenant_id = p_tenant_id AND a.currency = p_currency AND a.kind = p_kind
              AND a.player_id = p_player_id;
        ELSE
            SELECT a.id, a.allow_negative INTO account_id, account_allow_negative
            FROM ledger_accounts a
            WHERE a.tenant_id = p_tenant_id AND a.currency = p_currency AND a.kind = p_kind
              AND a.player_id IS NULL AND a.provider IS NOT DISTINCT FROM p_provider;
        END IF;
        IF FOUND THEN
            RETURN;
        END IF;
        EXIT WHEN attempt = 2;
        IF p_player_id IS NOT NULL THEN
            PERFORM 1 FROM players p WHERE p.tenant_id = p_tenant_id AND p.id = p_player_id;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'unknown_account' USING ERRCODE = 'KL002';
            END IF;
        END IF;
        INSERT INTO ledger_accounts AS a (tenant_id, currency, kind, player_id, provider, allow_negative)
        VALUES (p_tenant_id, p_currency, p_kind, p_player_id, p_provider,
                p_player_id IS NULL OR p_kind = 'player_receivable')
        ON CONFLICT DO NOTHING
        RETURNING a.id, a.allow_negative INTO account_id, account_allow_negative;
        IF FOUND THEN
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'ledger account being created concurrently' USING ERRCODE = '40001';
END;
$$;

-- How long after a payout call has certainly ended a PSP's "no such payout" is believed.
ALTER TABLE withdrawal_policies
    ADD COLUMN not_found_grace_s integer NOT NULL DEFAULT 900
        CHECK (not_found_grace_s BETWEEN 30 AND 604800);

-- When the call that sent the attempt to the PSP last started (NULL: at created_at), and the
-- journal that booked a success nobody held funds for any more.
ALTER TABLE payout_attempts
    ADD COLUMN sent_at timestamptz,
    ADD COLUMN recovery_journal_id uuid;

ALTER TABLE reconciliation_findings DROP CONSTRAINT reconciliation_findings_kind_check;
ALTER TABLE reconciliation_findings ADD CONSTRAINT reconciliation_findings_kind_check CHECK (kind IN (
    'missing_in_ledger', 'missing_at_psp', 'amount_mismatch', 'status_mismatch', 'duplicate_payout'));
ALTER TABLE reconciliation_findings DROP CONSTRAINT reconciliation_findings_severity_check;
ALTER TABLE reconciliation_findings ADD CONSTRAINT reconciliation_findings_severity_check
    CHECK (severity IN ('low', 'medium', 'high', 'critical'));
