-- Withdrawals, their payout attempts and timeline, the tenants' withdrawal policies, and the mock
-- PSP's payout books.
--
-- A withdrawal is a state machine: requested (funds moved player_cash -> player_withdrawal_hold
-- in the same transaction) -> approved (by finance/owner; above the tenant's threshold by two
-- different staff members) -> paying (a payout attempt is at the PSP) -> paid (the final journal
-- hold -> psp_clearing:<provider>, written once, only by a success). A failed attempt moves it to
-- payout_failed, funds still held, from where a retry starts a new attempt. rejected releases the
-- hold (hold -> player_cash). paid and rejected never change again.

-- Per tenant; a tenant without a row uses the defaults in server/src/withdrawals/policy.rs.
-- Amounts are in major units and apply to every currency.
CREATE TABLE withdrawal_policies (
    tenant_id              uuid PRIMARY KEY REFERENCES tenants (id),
    amount_min             numeric(20, 4) NOT NULL CHECK (amount_min > 0),
    amount_max             numeric(20, 4) NOT NULL,
    -- Withdrawals above this amount need a second approval by another staff member.
    approval_threshold     numeric(20, 4) NOT NULL CHECK (approval_threshold > 0),
    payout_attempts_max    integer NOT NULL CHECK (payout_attempts_max BETWEEN 1 AND 20),
    -- Minimum time between the end of one payout attempt and the next.
    retry_cooldown_s       integer NOT NULL CHECK (retry_cooldown_s BETWEEN 0 AND 604800),
    -- Attempts in pending/unknown for longer than this are rechecked with the PSP by the job.
    recheck_age_s          integer NOT NULL CHECK (recheck_age_s BETWEEN 1 AND 86400),
    payout_provider        ledger_provider_name NOT NULL,
    updated_at             timestamptz NOT NULL,
    updated_by             uuid,
    CONSTRAINT withdrawal_policies_amounts CHECK (amount_max >= amount_min),
    CONSTRAINT withdrawal_policies_staff_fkey FOREIGN KEY (tenant_id, updated_by) REFERENCES staff (tenant_id, id)
);

CREATE TABLE withdrawals (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    player_id           uuid NOT NULL,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            ledger_currency_code NOT NULL,
    state               text NOT NULL CHECK (state IN ('requested', 'approved', 'paying', 'paid',
                                                      'rejected', 'payout_failed')),
    -- The player's key for the click that requested it; the same key replays, never duplicates.
    idempotency_key     text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of (amount, currency): the same key with another request is refused.
    request_sha256      bytea NOT NULL CHECK (length(request_sha256) = 32),
    -- Maker-checker: above the threshold the first approval is recorded here and a different
    -- staff member gives the second (approved_by). The database refuses one person doing both.
    first_approved_by   uuid,
    first_approved_at   timestamptz,
    approved_by         uuid,
    approved_at         timestamptz,
    rejected_by         uuid,
    rejected_at         timestamptz,
    reject_reason       text,
    paid_at             timestamptz,
    -- Set when staff marked it paid by hand (a payout made outside any PSP).
    external_reference  text,
    request_journal_id  uuid NOT NULL,
    release_journal_id  uuid,
    payout_journal_id   uuid,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT withdrawals_player_fkey FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    CONSTRAINT withdrawals_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT withdrawals_idempotency_key UNIQUE (tenant_id, player_id, idempotency_key),
    CONSTRAINT withdrawals_two_people CHECK (first_approved_by IS NULL OR approved_by IS NULL
                                             OR first_approved_by <> approved_by),
    CONSTRAINT withdrawals_journal_when_paid CHECK ((state = 'paid') = (payout_journal_id IS NOT NULL)),
    CONSTRAINT withdrawals_journal_when_rejected CHECK ((state = 'rejected') = (release_journal_id IS NOT NULL)),
    CONSTRAINT withdrawals_reason_when_rejected CHECK (state <> 'rejected' OR reject_reason IS NOT NULL)
);
CREATE INDEX withdrawals_player_idx ON withdrawals (tenant_id, player_id, created_at DESC);
CREATE INDEX withdrawals_queue_idx ON withdrawals (tenant_id, state, created_at);

-- One row per try to pay a withdrawal out. The idempotency key is sent to the PSP, which never
-- pays one key twice; it also identifies the attempt when the PSP reports back.
CREATE TABLE payout_attempts (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    withdrawal_id       uuid NOT NULL,
    attempt_number      integer NOT NULL CHECK (attempt_number >= 1),
    -- 'manual' for a payout staff made outside any PSP.
    provider            ledger_provider_name NOT NULL,
    idempotency_key     text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    provider_reference  text,
    -- pending: sent (or about to be); unknown: no usable answer, never retried blind;
    -- succeeded / failed: what the PSP said.
    state               text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'unknown')),
    error_code          text,
    error_message       text,
    started_by          uuid,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    finished_at         timestamptz,
    -- The recheck job's schedule: when it looks next, and how often it has looked.
    next_check_at       timestamptz,
    checks              integer NOT NULL DEFAULT 0,
    last_checked_at     timestamptz,
    CONSTRAINT payout_attempts_withdrawal_fkey FOREIGN KEY (tenant_id, withdrawal_id) REFERENCES withdrawals (tenant_id, id),
    CONSTRAINT payout_attempts_number_key UNIQUE (withdrawal_id, attempt_number),
    CONSTRAINT payout_attempts_idempotency_key UNIQUE (provider, idempotency_key),
    CONSTRAINT payout_attempts_finished CHECK ((state IN ('succeeded', 'failed')) = (finished_at IS NOT NULL))
);
-- At most one attempt per withdrawal is at the PSP at any time.
CREATE UNIQUE INDEX payout_attempts_one_open_idx ON payout_attempts (withdrawal_id)
    WHERE state IN ('pending', 'unknown');
CREATE INDEX payout_attempts_recheck_idx ON payout_attempts (next_check_at)
    WHERE state IN ('pending', 'unknown');

-- The timeline staff see: every state change and staff action, who and when. A staff action's
-- idempotency key is unique per actor, so a double click or a second tab acts once.
CREATE TABLE withdrawal_events (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    withdrawal_id       uuid NOT NULL,
    action              text NOT NULL,
    from_state          text,
    to_state            text NOT NULL,
    -- player, staff, provider or system, and who (a player or staff id, a provider or job name).
    actor_type          text NOT NULL CHECK (actor_type IN ('player', 'staff', 'provider', 'system')),
    actor_id            text NOT NULL,
    attempt_number      integer,
    reason              text,
    detail              jsonb,
    -- A staff action's name (approve, reject, …) and key: the same key replays that action.
    staff_action        text,
    idempotency_key     text,
    at                  timestamptz NOT NULL,
    CONSTRAINT withdrawal_events_withdrawal_fkey FOREIGN KEY (tenant_id, withdrawal_id) REFERENCES withdrawals (tenant_id, id)
);
CREATE INDEX withdrawal_events_withdrawal_idx ON withdrawal_events (withdrawal_id, at);
CREATE UNIQUE INDEX withdrawal_events_action_key_idx ON withdrawal_events (tenant_id, actor_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The mock PSP's own payout books, keyed by the idempotency key Kasa sends (one payout per key).
CREATE TABLE mock_psp_payouts (
    id                  text PRIMARY KEY,
    idempotency_key     text NOT NULL UNIQUE,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    withdrawal_id       uuid NOT NULL,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            ledger_currency_code NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_code        text,
    failure_message     text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

-- Scripted outcomes for the mock PSP's next payouts (development, demos and tests): the oldest
-- unused script for the withdrawal, else for the tenant, decides a new payout; none: success.
CREATE TABLE mock_psp_payout_scripts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    withdrawal_id       uuid,
    -- succeed / fail: answered and sent as a webhook; hang: never reaches the mock (the call
    -- times out); lose_answer: paid, but neither the answer nor a webhook arrives; crash: paid,
    -- then the server process is killed (test endpoints only).
    outcome             text NOT NULL CHECK (outcome IN ('succeed', 'fail', 'hang', 'lose_answer', 'crash')),
    failure_code        text,
    -- How long the mock waits before it answers (after recording the payout).
    delay_ms            integer NOT NULL DEFAULT 0 CHECK (delay_ms BETWEEN 0 AND 60000),
    created_at          timestamptz NOT NULL,
    used_at             timestamptz,
    used_by_key         text
);
CREATE INDEX mock_psp_payout_scripts_unused_idx ON mock_psp_payout_scripts (tenant_id, id)
    WHERE used_at IS NULL;
