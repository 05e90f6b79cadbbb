-- Player protection: identity verification (KYC), deposit limits and self-exclusion, and each
-- tenant's protection policy. The rules live in server/src/protection/; the database keeps the
-- parts that must never be broken: rows stay in their tenant, KYC history and self-exclusions are
-- append-only (an exclusion can therefore never be shortened), amounts are positive.

-- A tenant's overrides of the protection defaults (server/src/protection/policy.rs). A missing
-- row or a NULL column means "the default", so the defaults live in one place, in the code.
CREATE TABLE protection_policies (
    tenant_id                          uuid PRIMARY KEY REFERENCES tenants (id),
    kyc_required_for_withdrawal        boolean,
    -- Total deposits, in whole units of the deposit's currency, beyond which KYC is required.
    kyc_deposit_threshold_major        bigint CHECK (kyc_deposit_threshold_major >= 0),
    deposit_limit_increase_cooldown_hours integer
        CHECK (deposit_limit_increase_cooldown_hours BETWEEN 0 AND 8760),
    updated_at                         timestamptz NOT NULL DEFAULT now()
);

-- The current KYC state of a player; no row means 'unverified'.
CREATE TABLE player_kyc (
    tenant_id     uuid NOT NULL,
    player_id     uuid NOT NULL,
    state         text NOT NULL CHECK (state IN ('unverified', 'pending', 'verified', 'rejected')),
    note          text NOT NULL CHECK (length(note) BETWEEN 1 AND 1000),
    staff_id      uuid NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, player_id),
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, id)
);

-- Every KYC decision, with the staff member and their note: what the staff page shows.
CREATE TABLE player_kyc_reviews (
    id            uuid PRIMARY KEY,
    -- Orders decisions made within the same instant (the clock is injected in tests).
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id     uuid NOT NULL,
    player_id     uuid NOT NULL,
    from_state    text NOT NULL CHECK (from_state IN ('unverified', 'pending', 'verified', 'rejected')),
    to_state      text NOT NULL CHECK (to_state IN ('unverified', 'pending', 'verified', 'rejected')),
    note          text NOT NULL CHECK (length(note) BETWEEN 1 AND 1000),
    staff_id      uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, id)
);
CREATE INDEX player_kyc_reviews_player_idx ON player_kyc_reviews (tenant_id, player_id, seq DESC);
CREATE TRIGGER player_kyc_reviews_append_only
    BEFORE UPDATE OR DELETE ON player_kyc_reviews
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('KYC reviews are append-only');
CREATE TRIGGER player_kyc_reviews_no_truncate
    BEFORE TRUNCATE ON player_kyc_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('KYC reviews are append-only');

-- A player's deposit limit for one rolling window. A decrease replaces amount_minor at once; an
-- increase (or a removal: pending_amount_minor NULL) waits in pending_* until its cooling-off
-- period ends, and is read as the limit from pending_effective_at on.
CREATE TABLE deposit_limits (
    tenant_id             uuid NOT NULL,
    player_id             uuid NOT NULL,
    period                text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    -- All of a player's limits share one currency (the service keeps it so).
    currency              ledger_currency_code NOT NULL,
    amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
    pending_amount_minor  bigint CHECK (pending_amount_minor > 0),
    pending_effective_at  timestamptz,
    updated_at            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, player_id, period),
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    CONSTRAINT deposit_limits_pending_has_time
        CHECK (pending_amount_minor IS NULL OR pending_effective_at IS NOT NULL),
    CONSTRAINT deposit_limits_pending_is_increase
        CHECK (pending_amount_minor IS NULL OR pending_amount_minor > amount_minor)
);

-- Self-exclusions, append-only: the exclusion in force is the one that ends last (NULL ends_at:
-- indefinite), so a later, shorter choice could never shorten it even if it were stored.
CREATE TABLE self_exclusions (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    player_id   uuid NOT NULL,
    period      text NOT NULL CHECK (period IN ('24h', '7d', '30d', '6m', 'indefinite')),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz,
    created_at  timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    CONSTRAINT self_exclusions_end_after_start CHECK (ends_at IS NULL OR ends_at > starts_at),
    CONSTRAINT self_exclusions_indefinite CHECK ((period = 'indefinite') = (ends_at IS NULL))
);
CREATE INDEX self_exclusions_player_idx ON self_exclusions (tenant_id, player_id, starts_at);
CREATE TRIGGER self_exclusions_append_only
    BEFORE UPDATE OR DELETE ON self_exclusions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('self-exclusions can never be shortened or removed');
CREATE TRIGGER self_exclusions_no_truncate
    BEFORE TRUNCATE ON self_exclusions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('self-exclusions can never be shortened or removed');

-- Row-level security: a role other than the tables' owner (a reporting or support login) sees
-- and writes only the tenant named in the `kasa.tenant_id` setting, and nothing when it is unset.
-- Kasa's own connection owns the tables and scopes every query by tenant_id itself.
ALTER TABLE protection_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE player_kyc ENABLE ROW LEVEL SECURITY;
ALTER TABLE player_kyc_reviews ENABLE ROW LEVEL SECURITY;
ALTER TABLE deposit_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE self_exclusions ENABLE ROW LEVEL SECURITY;
CREATE POLICY protection_policies_tenant ON protection_policies
    USING (tenant_id = NULLIF(current_setting('kasa.tenant_id', true), '')::uuid);
CREATE POLICY player_kyc_tenant ON player_kyc
    USING (tenant_id = NULLIF(current_setting('kasa.tenant_id', true), '')::uuid);
CREATE POLICY player_kyc_reviews_tenant ON player_kyc_reviews
    USING (tenant_id = NULLIF(current_setting('kasa.tenant_id', true), '')::uuid);
CREATE POLICY deposit_limits_tenant ON deposit_limits
    USING (tenant_id = NULLIF(current_setting('kasa.tenant_id', true), '')::uuid);
CREATE POLICY self_exclusions_tenant ON self_exclusions
    USING (tenant_id = NULLIF(current_setting('kasa.tenant_id', true), '')::uuid);
