-- The double-entry ledger: accounts with balance snapshots, journals (one per business event)
-- and their transfers. Journals and transfers are append-only: a mistake is corrected by a new,
-- reversing journal. Amounts are integers in the currency's minor unit (cents, yen).
--
-- Balance convention: an account's balance is its credits minus its debits. A transfer moves
-- `amount_minor` from its debit account to its credit account, so a deposit (psp_clearing ->
-- player_cash) leaves the PSP clearing account negative (money the PSP owes the operator) and the
-- player's cash positive (money the operator owes the player). The balances of one tenant and
-- currency therefore always add up to zero.
--
-- Hot accounts. An account that may go negative (every operator account: house, fees, PSP
-- clearing, adjustments) never limits a transfer, so posting neither locks nor updates its row:
-- each journal appends its change for such an account to ledger_balance_deltas instead, and a
-- periodic fold (ledger_fold_balance_deltas, migration 0003) moves those rows into the account's
-- snapshot columns in one atomic statement. For every account, at every instant:
--     snapshot columns + its unfolded deltas = the sums of its transfers,
-- and every balance Kasa reports is computed that way (view ledger_account_balances). Accounts
-- that may not go negative (player accounts) are locked and updated in the posting transaction
-- itself and never have deltas. The integrity check verifies all of this.
--
-- For the same reason transfers carry no foreign keys to accounts: a foreign key check
-- share-locks the referenced row, which would turn the house row into a row locked (and its
-- lock word rewritten) by every transfer. Instead accounts can never be deleted and their
-- identity never changes (triggers below), posting resolves every account within the journal's
-- tenant and currency, and the integrity check verifies that every transfer's accounts exist in
-- its tenant and currency.

-- Single-column rules are domains: their checks run only when such a column is written, and cost
-- less per statement than table CHECK constraints, which every update re-evaluates.
CREATE DOMAIN ledger_currency_code AS text CHECK (VALUE ~ '^[A-Z]{3}$');
CREATE DOMAIN ledger_account_kind AS text CHECK (VALUE IN (
    'player_cash', 'player_withdrawal_hold', 'psp_clearing', 'house', 'fees', 'adjustments'));
CREATE DOMAIN ledger_provider_name AS text CHECK (VALUE ~ '^[a-z][a-z0-9_-]{0,31}$');
CREATE DOMAIN ledger_journal_kind AS text CHECK (VALUE ~ '^[a-z][a-z0-9_]{0,62}$');
CREATE DOMAIN ledger_idempotency_key AS text CHECK (length(VALUE) BETWEEN 1 AND 255);
CREATE DOMAIN ledger_reference AS text CHECK (length(VALUE) BETWEEN 1 AND 200);
CREATE DOMAIN ledger_sha256 AS bytea CHECK (length(VALUE) = 32);
CREATE DOMAIN ledger_metadata AS jsonb CHECK (jsonb_typeof(VALUE) = 'object');
-- Transfer amounts are positive; balances after a transfer (kept for player accounts) and the
-- parts of a balance delta are not negative.
CREATE DOMAIN ledger_amount_minor AS bigint CHECK (VALUE > 0);
CREATE DOMAIN ledger_minor_not_negative AS bigint CHECK (VALUE >= 0);

CREATE TABLE ledger_accounts (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id             uuid NOT NULL REFERENCES tenants (id),
    currency              ledger_currency_code NOT NULL,
    kind                  ledger_account_kind NOT NULL,
    -- The PSP of a psp_clearing account ('stripe', 'mock'); NULL for every other kind.
    provider              ledger_provider_name,
    -- The owner of a player account; NULL for operator accounts.
    player_id             uuid,
    -- False: the balance may never go below zero, and posting locks the row to check it.
    allow_negative        boolean NOT NULL,
    -- The balance snapshot. For accounts that may go negative it covers the transfers whose
    -- deltas have been folded; the rest are in ledger_balance_deltas (see the top of the file).
    debits_posted_minor   bigint NOT NULL DEFAULT 0,
    credits_posted_minor  bigint NOT NULL DEFAULT 0,
    -- Incremented by every write to the snapshot columns.
    version               bigint NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    -- Player accounts belong to a player and may not go negative; PSP clearing accounts name
    -- their provider; nothing else has either.
    CONSTRAINT ledger_accounts_owner CHECK (
        (kind IN ('player_cash', 'player_withdrawal_hold')) = (player_id IS NOT NULL)
        AND (kind = 'psp_clearing') = (provider IS NOT NULL)
        AND (player_id IS NULL OR NOT allow_negative)),
    -- Player balances never go below zero (one expression: it is evaluated on every update).
    CONSTRAINT ledger_accounts_balance_not_negative CHECK (
        debits_posted_minor >= 0 AND credits_posted_minor >= 0
        AND (allow_negative OR credits_posted_minor >= debits_posted_minor)),
    -- One account per (tenant, currency, kind, owner). The column order serves the lookups:
    -- player accounts by player_id, operator accounts with player_id IS NULL.
    CONSTRAINT ledger_accounts_key
        UNIQUE NULLS NOT DISTINCT (tenant_id, currency, kind, player_id, provider),
    CONSTRAINT ledger_accounts_player_fkey
        FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id)
) WITH (fillfactor = 70);  -- Room on each page keeps balance updates HOT (no index writes).
CREATE INDEX ledger_accounts_player_idx ON ledger_accounts (tenant_id, player_id)
    WHERE player_id IS NOT NULL;

CREATE TABLE ledger_journals (
    -- Time-ordered (UUIDv7 layout), so that new journals append to the end of the index.
    id                uuid PRIMARY KEY,
    -- No foreign key to tenants: it would share-lock the tenant's row on every journal. Every
    -- transfer's accounts belong to this tenant, and their tenant_id does reference tenants.
    tenant_id         uuid NOT NULL,
    -- The business event: 'deposit_capture', 'withdrawal_request', 'bet', ...
    kind              ledger_journal_kind NOT NULL,
    -- The business object it belongs to ('deposit:<id>', 'withdrawal:<id>'), if any.
    reference         ledger_reference,
    idempotency_key   ledger_idempotency_key NOT NULL,
    -- SHA-256 of the canonical request (kind, reference, transfers, metadata): a replay with the
    -- same key must carry the same request, or it is refused.
    request_sha256    ledger_sha256 NOT NULL,
    metadata          ledger_metadata NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_journals_idempotency_key UNIQUE (tenant_id, idempotency_key)
);
-- Finds the journals of one business object (a deposit's capture, a withdrawal's payout).
CREATE INDEX ledger_journals_reference_idx ON ledger_journals (tenant_id, reference)
    WHERE reference IS NOT NULL;

-- Orders all transfers; for an account that cannot go negative it is also the order in which its
-- balance changed, because its row is locked before the number is drawn. No CACHE: per-connection
-- caches would hand out numbers out of time order.
CREATE SEQUENCE ledger_transfer_sequence AS bigint;

CREATE TABLE ledger_transfers (
    journal_id                  uuid NOT NULL REFERENCES ledger_journals (id),
    -- Position of the transfer within its journal, from 1; transfers apply in this order.
    ordinal                     smallint NOT NULL,
    sequence                    bigint NOT NULL DEFAULT nextval('ledger_transfer_sequence'),
    tenant_id                   uuid NOT NULL,
    currency                    ledger_currency_code NOT NULL,
    debit_account_id            uuid NOT NULL,
    credit_account_id           uuid NOT NULL,
    amount_minor                ledger_amount_minor NOT NULL,
    -- The account's balance right after this transfer, kept for accounts that may not go
    -- negative (they are locked while posting, so it is exact); NULL for the others.
    debit_balance_after_minor   ledger_minor_not_negative,
    credit_balance_after_minor  ledger_minor_not_negative,
    PRIMARY KEY (journal_id, ordinal),
    CONSTRAINT ledger_transfers_distinct_accounts CHECK (debit_account_id <> credit_account_id)
);
-- A player's history, page by page. Only the legs of accounts that cannot go negative (the ones
-- with a balance after) are indexed: operator accounts' legs are read in bulk (integrity check,
-- rebuild), and indexing the house account's legs would make every bet append to one hot page.
CREATE INDEX ledger_transfers_debit_account_idx ON ledger_transfers (debit_account_id, sequence)
    WHERE debit_balance_after_minor IS NOT NULL;
CREATE INDEX ledger_transfers_credit_account_idx ON ledger_transfers (credit_account_id, sequence)
    WHERE credit_balance_after_minor IS NOT NULL;

-- Changes of accounts that may go negative, written by the posting transaction instead of
-- updating the account row, and folded into the snapshot by ledger_fold_balance_deltas. Rows are
-- only ever inserted by posting, and deleted by a fold or a rebuild in the same statement that
-- adds them to the snapshot. (No foreign key, for the same reason as transfers.)
CREATE TABLE ledger_balance_deltas (
    account_id     uuid NOT NULL,
    debits_minor   ledger_minor_not_negative NOT NULL,
    credits_minor  ledger_minor_not_negative NOT NULL
);
CREATE INDEX ledger_balance_deltas_account_idx ON ledger_balance_deltas (account_id);

-- Journals and transfers are append-only; accounts are never removed and never change identity.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % refused (%)', TG_TABLE_NAME, TG_OP, TG_ARGV[0] USING ERRCODE = 'KL009';
END;
$$;

CREATE TRIGGER ledger_journals_append_only
    BEFORE UPDATE OR DELETE ON ledger_journals
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('journals are append-only');
CREATE TRIGGER ledger_journals_no_truncate
    BEFORE TRUNCATE ON ledger_journals
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('journals are append-only');
CREATE TRIGGER ledger_transfers_append_only
    BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('transfers are append-only');
CREATE TRIGGER ledger_transfers_no_truncate
    BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('transfers are append-only');
-- Fires only when an update names one of these columns, so balance updates do not pay for it.
CREATE TRIGGER ledger_accounts_identity_fixed
    BEFORE UPDATE OF id, tenant_id, currency, kind, provider, player_id, allow_negative ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('an account''s identity never changes');
CREATE TRIGGER ledger_accounts_never_deleted
    BEFORE DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('accounts are never deleted');
CREATE TRIGGER ledger_accounts_no_truncate
    BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('accounts are never deleted');
