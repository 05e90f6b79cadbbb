-- Posting and folding, as functions so that posting a journal is one statement and one network
-- round trip, and the rules live next to the tables they protect. Errors are raised with the
-- SQLSTATEs below, which the server maps to its typed ledger errors:
--   KL001 insufficient_funds   KL002 unknown_account     KL003 idempotency_key_reused
--   KL004 currency_mismatch    KL005 invalid_journal     KL006 invalid_amount
--   (KL009, a refused change to an append-only table or to an account's identity, is raised by
--   the triggers of 0002.)

-- Every balance Kasa reports comes from this view: the snapshot columns plus the deltas not yet
-- folded into them (only accounts that may go negative have any).
CREATE VIEW ledger_account_balances AS
SELECT a.id,
       a.tenant_id,
       a.currency,
       a.kind,
       a.provider,
       a.player_id,
       a.allow_negative,
       a.debits_posted_minor + coalesce(pending.debits_minor, 0) AS debits_minor,
       a.credits_posted_minor + coalesce(pending.credits_minor, 0) AS credits_minor,
       (a.credits_posted_minor + coalesce(pending.credits_minor, 0))
         - (a.debits_posted_minor + coalesce(pending.debits_minor, 0)) AS balance_minor,
       a.version
FROM ledger_accounts a
LEFT JOIN LATERAL (
    SELECT sum(d.debits_minor)::bigint AS debits_minor, sum(d.credits_minor)::bigint AS credits_minor
    FROM ledger_balance_deltas d
    WHERE d.account_id = a.id
) pending ON true;

-- Finds the account with this key, creating it on first use. Races are settled by the unique
-- key: INSERT ... ON CONFLICT DO NOTHING, then read whichever row won.
CREATE FUNCTION ledger_ensure_account(
    p_tenant_id uuid,
    p_currency text,
    p_kind text,
    p_player_id uuid,
    p_provider text,
    OUT account_id uuid,
    OUT account_allow_negative boolean
)
LANGUAGE plpgsql AS $$
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
        -- A player account can only be opened for a player of this very tenant; anything else
        -- is indistinguishable from an account that does not exist.
        IF p_player_id IS NOT NULL THEN
            PERFORM 1 FROM players p WHERE p.tenant_id = p_tenant_id AND p.id = p_player_id;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'unknown_account' USING ERRCODE = 'KL002';
            END IF;
        END IF;
        INSERT INTO ledger_accounts AS a (tenant_id, currency, kind, player_id, provider, allow_negative)
        VALUES (p_tenant_id, p_currency, p_kind, p_player_id, p_provider, p_player_id IS NULL)
        ON CONFLICT DO NOTHING
        RETURNING a.id, a.allow_negative INTO account_id, account_allow_negative;
        IF FOUND THEN
            RETURN;
        END IF;
    END LOOP;
    -- The winner of the race is not visible to this snapshot (REPEATABLE READ callers only).
    RAISE EXCEPTION 'ledger account being created concurrently' USING ERRCODE = '40001';
END;
$$;

-- Posts one journal atomically, or replays it. The transfers refer to "account references"
-- (1-based positions in the p_account_* arrays), each given either by id or by key.
--
-- Order of work, and why:
--  1. Claim the idempotency key by inserting the journal row. A concurrent post with the same
--     key waits on the unique index until this transaction ends, then sees the committed journal
--     and replays it; if this transaction fails, the key stays free and it proceeds.
--  2. Resolve (or create) the accounts.
--  3. Work out each account's change and, for accounts that may not go negative, the lowest
--     point its balance reaches while the transfers apply in order.
--  4. Lock and update the accounts that may not go negative, in id order (so concurrent posts
--     cannot deadlock), each in one conditional UPDATE: the row lock is taken, the limit checked
--     against the latest committed balance and the snapshot written in the same statement, so
--     there is no window between check and write. Accounts that may go negative are neither
--     locked nor updated.
--  5. Write the transfers (with each locked account's balance after them) and the deltas of the
--     accounts that may go negative.
-- Every statement takes scalar parameters, so its cached plan is reused without re-planning.
CREATE FUNCTION ledger_post_journal(
    p_tenant_id uuid,
    p_idempotency_key text,
    p_request_sha256 bytea,
    p_kind text,
    p_reference text,
    p_metadata jsonb,
    p_account_ids uuid[],
    p_account_kinds text[],
    p_account_player_ids uuid[],
    p_account_providers text[],
    p_account_currencies text[],
    p_debit_refs integer[],
    p_credit_refs integer[],
    p_amounts_minor bigint[],
    OUT posted_journal_id uuid,
    OUT posted_at timestamptz,
    OUT replayed boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    v_account_count integer := coalesce(array_length(p_account_currencies, 1), 0);
    v_transfer_count integer := coalesce(array_length(p_amounts_minor, 1), 0);
    v_existing_sha256 bytea;
    -- Per account reference:
    v_ids uuid[] := '{}';          -- the account
    v_limited boolean[] := '{}';   -- it may not go negative
    v_first integer[] := '{}';     -- the first reference to the same account (shared totals)
    -- Per account, at its first reference:
    v_debits bigint[];
    v_credits bigint[];
    v_running bigint[];            -- change so far while applying the transfers in order
    v_lowest bigint[];             -- lowest value of v_running (<= 0): what the balance must cover
    v_balances bigint[];           -- balance before the journal, then running balance
    v_order integer[] := '{}';     -- first references of the accounts to lock, in id order
    v_id uuid;
    v_allow_negative boolean;
    v_currency text;
    v_amount bigint;
    v_debit integer;
    v_credit integer;
    v_position integer;
    v_balance_after bigint;
BEGIN
    IF v_transfer_count = 0
       OR coalesce(array_length(p_debit_refs, 1), 0) <> v_transfer_count
       OR coalesce(array_length(p_credit_refs, 1), 0) <> v_transfer_count THEN
        RAISE EXCEPTION 'invalid_journal: a journal needs at least one transfer' USING ERRCODE = 'KL005';
    END IF;

    -- 1. Claim the key, or replay what it already holds. The id is a UUIDv7: 48 bits of Unix
    --    time in milliseconds, then random bits, with the version and variant set.
    INSERT INTO ledger_journals AS j
        (id, tenant_id, kind, reference, idempotency_key, request_sha256, metadata)
    VALUES (encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
            p_tenant_id, p_kind, p_reference, p_idempotency_key, p_request_sha256,
            coalesce(p_metadata, '{}'::jsonb))
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING j.id, j.created_at INTO posted_journal_id, posted_at;
    IF NOT FOUND THEN
        SELECT j.id, j.created_at, j.request_sha256
        INTO posted_journal_id, posted_at, v_existing_sha256
        FROM ledger_journals j
        WHERE j.tenant_id = p_tenant_id AND j.idempotency_key = p_idempotency_key;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'idempotency key held by a journal not visible yet' USING ERRCODE = '40001';
        END IF;
        IF v_existing_sha256 <> p_request_sha256 THEN
            RAISE EXCEPTION 'idempotency_key_reused' USING ERRCODE = 'KL003';
        END IF;
        replayed := true;
        RETURN;
    END IF;
    replayed := false;

    -- 2. Resolve the accounts, within this tenant and in the currency the journal uses them in.
    FOR i IN 1..v_account_count LOOP
        IF p_account_ids[i] IS NOT NULL THEN
            SELECT a.id, a.allow_negative, a.currency INTO v_id, v_allow_negative, v_currency
            FROM ledger_accounts a
            WHERE a.id = p_account_ids[i] AND a.tenant_id = p_tenant_id;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'unknown_account' USING ERRCODE = 'KL002';
            END IF;
            IF v_currency <> p_account_currencies[i] THEN
                RAISE EXCEPTION 'currency_mismatch: account % holds %, the transfer is in %',
                    v_id, v_currency, p_account_currencies[i] USING ERRCODE = 'KL004';
            END IF;
        ELSIF p_account_player_ids[i] IS NOT NULL THEN
            SELECT a.id, a.allow_negative INTO v_id, v_allow_negative
            FROM ledger_accounts a
            WHERE a.tenant_id = p_tenant_id AND a.currency = p_account_currencies[i]
              AND a.kind = p_account_kinds[i] AND a.player_id = p_account_player_ids[i];
        ELSE
            SELECT a.id, a.allow_negative INTO v_id, v_allow_negative
            FROM ledger_accounts a
            WHERE a.tenant_id = p_tenant_id AND a.currency = p_account_currencies[i]
              AND a.kind = p_account_kinds[i] AND a.player_id IS NULL
              AND a.provider IS NOT DISTINCT FROM p_account_providers[i];
        END IF;
        IF NOT FOUND THEN
            SELECT e.account_id, e.account_allow_negative INTO v_id, v_allow_negative
            FROM ledger_ensure_account(p_tenant_id, p_account_currencies[i], p_account_kinds[i],
                                       p_account_player_ids[i], p_account_providers[i]) e;
        END IF;
        v_first[i] := coalesce(array_position(v_ids, v_id), i);
        v_ids[i] := v_id;
        v_limited[i] := NOT v_allow_negative;
    END LOOP;

    -- 3. Each account's totals and, for limited accounts, the lowest point of its balance.
    v_debits := array_fill(0::bigint, ARRAY[v_account_count]);
    v_credits := array_fill(0::bigint, ARRAY[v_account_count]);
    v_running := array_fill(0::bigint, ARRAY[v_account_count]);
    v_lowest := array_fill(0::bigint, ARRAY[v_account_count]);
    FOR t IN 1..v_transfer_count LOOP
        v_debit := v_first[p_debit_refs[t]];
        v_credit := v_first[p_credit_refs[t]];
        v_amount := p_amounts_minor[t];
        IF v_debit IS NULL OR v_credit IS NULL THEN
            RAISE EXCEPTION 'invalid_journal: transfer % refers to no account', t USING ERRCODE = 'KL005';
        END IF;
        IF v_debit = v_credit THEN
            RAISE EXCEPTION 'invalid_journal: transfer % has the same debit and credit account', t
                USING ERRCODE = 'KL005';
        END IF;
        IF p_account_currencies[v_debit] <> p_account_currencies[v_credit] THEN
            RAISE EXCEPTION 'currency_mismatch: transfer % joins % and %', t,
                p_account_currencies[v_debit], p_account_currencies[v_credit] USING ERRCODE = 'KL004';
        END IF;
        IF v_amount IS NULL OR v_amount <= 0 THEN
            RAISE EXCEPTION 'invalid_amount: transfer % amount must be positive', t USING ERRCODE = 'KL006';
        END IF;
        v_debits[v_debit] := v_debits[v_debit] + v_amount;
        v_credits[v_credit] := v_credits[v_credit] + v_amount;
        v_running[v_debit] := v_running[v_debit] - v_amount;
        v_lowest[v_debit] := least(v_lowest[v_debit], v_running[v_debit]);
        v_running[v_credit] := v_running[v_credit] + v_amount;
    END LOOP;

    -- 4. Lock, check and update the limited accounts in id order (insertion sort: a journal
    --    touches a handful of accounts).
    FOR i IN 1..v_account_count LOOP
        CONTINUE WHEN NOT v_limited[i] OR v_first[i] <> i;
        v_position := coalesce(array_length(v_order, 1), 0) + 1;
        v_order[v_position] := i;
        WHILE v_position > 1 AND v_ids[v_order[v_position - 1]] > v_ids[i] LOOP
            v_order[v_position] := v_order[v_position - 1];
            v_order[v_position - 1] := i;
            v_position := v_position - 1;
        END LOOP;
    END LOOP;
    v_balances := array_fill(NULL::bigint, ARRAY[v_account_count]);
    FOREACH v_position IN ARRAY v_order LOOP
        UPDATE ledger_accounts a
        SET debits_posted_minor = a.debits_posted_minor + v_debits[v_position],
            credits_posted_minor = a.credits_posted_minor + v_credits[v_position],
            version = a.version + 1
        WHERE a.id = v_ids[v_position]
          AND a.credits_posted_minor - a.debits_posted_minor + v_lowest[v_position] >= 0
        RETURNING a.credits_posted_minor - a.debits_posted_minor INTO v_balance_after;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insufficient_funds' USING ERRCODE = 'KL001', DETAIL = v_ids[v_position]::text;
        END IF;
        v_balances[v_position] := v_balance_after - v_running[v_position];
    END LOOP;

    -- 5. The transfers, in order, with each limited account's balance right after them; the
    --    sequence numbers are drawn now, while the limited accounts are locked.
    FOR t IN 1..v_transfer_count LOOP
        v_debit := v_first[p_debit_refs[t]];
        v_credit := v_first[p_credit_refs[t]];
        v_amount := p_amounts_minor[t];
        v_balances[v_debit] := v_balances[v_debit] - v_amount;
        v_balances[v_credit] := v_balances[v_credit] + v_amount;
        INSERT INTO ledger_transfers
            (journal_id, ordinal, tenant_id, currency, debit_account_id, credit_account_id,
             amount_minor, debit_balance_after_minor, credit_balance_after_minor)
        VALUES (posted_journal_id, t, p_tenant_id, p_account_currencies[v_debit], v_ids[v_debit],
                v_ids[v_credit], v_amount, v_balances[v_debit], v_balances[v_credit]);
    END LOOP;
    FOR i IN 1..v_account_count LOOP
        CONTINUE WHEN v_limited[i] OR v_first[i] <> i OR (v_debits[i] = 0 AND v_credits[i] = 0);
        INSERT INTO ledger_balance_deltas (account_id, debits_minor, credits_minor)
        VALUES (v_ids[i], v_debits[i], v_credits[i]);
    END LOOP;
END;
$$;

-- Moves the deltas of one account into its snapshot, in one statement so that no reader ever
-- sees them counted twice or not at all. Returns how many delta rows were folded; 0 when there
-- were none or when another fold or a rebuild holds the account.
CREATE FUNCTION ledger_fold_account_deltas(p_account_id uuid) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_folded bigint;
BEGIN
    -- NO KEY UPDATE does not conflict with the key-share locks that posting's foreign key checks
    -- take, so folding never blocks a post.
    PERFORM 1 FROM ledger_accounts a WHERE a.id = p_account_id FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    WITH moved AS (
        DELETE FROM ledger_balance_deltas d WHERE d.account_id = p_account_id
        RETURNING d.debits_minor, d.credits_minor
    ), total AS (
        SELECT count(*) AS row_count,
               coalesce(sum(moved.debits_minor), 0) AS debits_minor,
               coalesce(sum(moved.credits_minor), 0) AS credits_minor
        FROM moved
    )
    UPDATE ledger_accounts a
    SET debits_posted_minor = a.debits_posted_minor + total.debits_minor,
        credits_posted_minor = a.credits_posted_minor + total.credits_minor,
        version = a.version + 1
    FROM total
    WHERE a.id = p_account_id AND total.row_count > 0
    RETURNING total.row_count INTO v_folded;
    RETURN coalesce(v_folded, 0);
END;
$$;

-- Folds every account that has deltas; returns the number of accounts and of delta rows folded.
CREATE FUNCTION ledger_fold_balance_deltas(OUT accounts_folded integer, OUT deltas_folded bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_account_id uuid;
    v_folded bigint;
BEGIN
    accounts_folded := 0;
    deltas_folded := 0;
    FOR v_account_id IN SELECT DISTINCT d.account_id FROM ledger_balance_deltas d ORDER BY 1 LOOP
        v_folded := ledger_fold_account_deltas(v_account_id);
        IF v_folded > 0 THEN
            accounts_folded := accounts_folded + 1;
            deltas_folded := deltas_folded + v_folded;
        END IF;
    END LOOP;
END;
$$;
