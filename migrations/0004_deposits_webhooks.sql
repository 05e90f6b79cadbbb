-- Deposits through a PSP, the PSPs' webhook events, and the mock PSP's own records.
--
-- A deposit is a state machine: created (our row exists, no checkout yet) -> pending (the PSP's
-- checkout exists, waiting for the payment) -> captured | failed | expired. Only a verified PSP
-- event moves it to a final state; capture writes its ledger journal (psp_clearing -> player_cash)
-- in the same transaction. A PSP that reports a payment after a failure or an expiry still
-- captures (the money was taken); a captured deposit never changes again.

CREATE TABLE deposits (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    player_id            uuid NOT NULL,
    provider             ledger_provider_name NOT NULL,
    amount_minor         bigint NOT NULL CHECK (amount_minor > 0),
    currency             ledger_currency_code NOT NULL,
    state                text NOT NULL CHECK (state IN ('created', 'pending', 'captured', 'failed', 'expired')),
    -- The player's key for the click that created it; the same key replays, never duplicates.
    idempotency_key      text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of (provider, amount, currency): the same key with another request is refused.
    request_sha256       bytea NOT NULL CHECK (length(request_sha256) = 32),
    -- The PSP's checkout (Stripe: cs_…; mock: mcs_…), set when the checkout is created.
    provider_session_id  text,
    checkout_url         text,
    checkout_expires_at  timestamptz,
    -- Why a deposit failed (PSP decline code, API error), for the player and staff.
    failure_code         text,
    failure_message      text,
    capture_journal_id   uuid,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    captured_at          timestamptz,
    CONSTRAINT deposits_player_fkey FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    CONSTRAINT deposits_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT deposits_idempotency_key UNIQUE (tenant_id, player_id, idempotency_key),
    CONSTRAINT deposits_provider_session_key UNIQUE (provider, provider_session_id),
    CONSTRAINT deposits_session_when_pending CHECK (state = 'created' OR provider_session_id IS NOT NULL
                                                     OR failure_code IS NOT NULL),
    CONSTRAINT deposits_journal_when_captured CHECK ((state = 'captured') = (capture_journal_id IS NOT NULL))
);
CREATE INDEX deposits_player_idx ON deposits (tenant_id, player_id, created_at DESC);
CREATE INDEX deposits_state_idx ON deposits (tenant_id, state, created_at);

-- Every webhook that passed signature verification, stored raw before anything is applied.
-- (provider, event_id) is unique: a replayed event finds its row and changes nothing.
-- status: received (stored, not yet applied), applied (its effect is committed), ignored (an
-- event type or state change with nothing to do), unmatched (refers to no deposit or payout we
-- know: kept and shown to staff, retried later), failed (applying raised an error; retried).
CREATE TABLE psp_webhook_events (
    id              uuid PRIMARY KEY,
    provider        ledger_provider_name NOT NULL,
    event_id        text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    event_type      text NOT NULL,
    -- The tenant and object the event turned out to be about, once known.
    tenant_id       uuid REFERENCES tenants (id),
    object_type     text,
    object_id       uuid,
    payload         jsonb NOT NULL,
    raw_body        text NOT NULL,
    status          text NOT NULL CHECK (status IN ('received', 'applied', 'ignored', 'unmatched', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    received_at     timestamptz NOT NULL,
    -- How many times the PSP delivered it (replays included).
    deliveries      integer NOT NULL DEFAULT 1,
    last_delivery_at timestamptz NOT NULL,
    applied_at      timestamptz,
    CONSTRAINT psp_webhook_events_key UNIQUE (provider, event_id)
);
CREATE INDEX psp_webhook_events_status_idx ON psp_webhook_events (status, received_at)
    WHERE status IN ('received', 'unmatched', 'failed');
CREATE INDEX psp_webhook_events_object_idx ON psp_webhook_events (object_id);
CREATE INDEX psp_webhook_events_tenant_idx ON psp_webhook_events (tenant_id, received_at DESC);

-- The mock PSP's own books: what a real PSP would keep on its side. Reconciliation compares
-- them with ours. The mock is keyed by the idempotency key Kasa sends, like Stripe.
CREATE TABLE mock_psp_checkouts (
    id               text PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    deposit_id       uuid NOT NULL,
    amount_minor     bigint NOT NULL CHECK (amount_minor > 0),
    currency         ledger_currency_code NOT NULL,
    success_url      text NOT NULL,
    cancel_url       text NOT NULL,
    status           text NOT NULL CHECK (status IN ('open', 'processing', 'paid', 'failed', 'expired')),
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    completed_at     timestamptz
);
