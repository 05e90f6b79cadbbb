-- The audit log: one append-only, hash-chained sequence of events per tenant. Every staff action
-- and every money state change appends one event in the same transaction as the change.
--
-- Chain. Event n of a tenant carries seq = n, prev_hash = the hash of event n-1 (32 zero bytes
-- for n = 1) and hash = sha256(prev_hash || canonical event), where the canonical event is the
-- JSON document described in server/src/audit.rs (sorted keys, no whitespace, the timestamp as
-- exact text). An edited event no longer matches its hash; a removed one leaves a gap in seq and
-- a prev_hash that points at nothing; removed last events no longer match audit_chain_heads.
-- `kasa audit-verify` and the back office recompute the chain and report the first broken link.
--
-- Concurrency. The chain is per tenant, so appending serialises one tenant's audited
-- transactions on its head row (locked until commit) and never two tenants against each other.
-- Callers append their event last in the transaction, after every other lock, which keeps the
-- head locked for the shortest time and rules out lock-order deadlocks with ledger accounts.
--
-- Enforcement. Triggers refuse UPDATE, DELETE and TRUNCATE of events, for every role including
-- the application's (a superuser can only get round them by disabling triggers, which is exactly
-- what verification detects). An event is only accepted as the next link of its tenant's chain,
-- and the head only moves by appending.

CREATE TABLE audit_chain_heads (
    tenant_id   uuid PRIMARY KEY REFERENCES tenants (id),
    last_seq    bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_hash   bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
                CHECK (length(last_hash) = 32)
);

CREATE TABLE audit_events (
    tenant_id        uuid NOT NULL,
    seq              bigint NOT NULL CHECK (seq >= 1),
    id               uuid NOT NULL,
    actor_type       text NOT NULL CHECK (actor_type IN ('staff', 'player', 'provider', 'system')),
    actor_id         text NOT NULL CHECK (length(actor_id) BETWEEN 1 AND 200),
    -- `object.verb`: deposit.captured, withdrawal.approved, staff.logged_in, …
    action           text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target_type      text NOT NULL CHECK (length(target_type) BETWEEN 1 AND 100),
    target_id        text NOT NULL CHECK (length(target_id) BETWEEN 1 AND 200),
    before           jsonb,
    after            jsonb,
    reason           text CHECK (length(reason) <= 2000),
    request_id       text CHECK (length(request_id) <= 200),
    idempotency_key  text CHECK (length(idempotency_key) <= 255),
    ip               text CHECK (length(ip) <= 100),
    -- When it happened, to the microsecond (the canonical text of this value is hashed).
    at               timestamptz NOT NULL,
    prev_hash        bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash             bytea NOT NULL CHECK (length(hash) = 32),
    -- No foreign key to tenants: the head row (which has one) is locked by every append anyway.
    PRIMARY KEY (tenant_id, seq),
    CONSTRAINT audit_events_id_key UNIQUE (id)
);
-- The audit page's searches: by period, actor, action and target, newest first.
CREATE INDEX audit_events_at_idx ON audit_events (tenant_id, at DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (tenant_id, actor_id, seq DESC);
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action, seq DESC);
CREATE INDEX audit_events_target_idx ON audit_events (tenant_id, target_type, target_id, seq DESC);

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('audit events are append-only');
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('audit events are append-only');

-- Accepts an event only as the next link of its tenant's chain, and moves the head to it. The
-- caller has locked the head (SELECT … FOR UPDATE) to compute the hash; the checks here make a
-- wrong or concurrent link fail instead of forking the chain.
CREATE FUNCTION audit_append_link() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_last_seq bigint;
    v_last_hash bytea;
BEGIN
    SELECT h.last_seq, h.last_hash INTO v_last_seq, v_last_hash
    FROM audit_chain_heads h WHERE h.tenant_id = NEW.tenant_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit_events: tenant % has no chain head', NEW.tenant_id USING ERRCODE = 'KA001';
    END IF;
    IF NEW.seq <> v_last_seq + 1 OR NEW.prev_hash <> v_last_hash THEN
        RAISE EXCEPTION 'audit_events: event % is not the next link of its chain (head at %)',
            NEW.seq, v_last_seq USING ERRCODE = 'KA001';
    END IF;
    UPDATE audit_chain_heads SET last_seq = NEW.seq, last_hash = NEW.hash
    WHERE tenant_id = NEW.tenant_id;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_events_link
    BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_link();

-- The head moves only from the trigger above (nested, so the trigger depth is above 1); a
-- direct UPDATE or DELETE would let a truncated chain pass for complete.
CREATE FUNCTION audit_head_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_chain_heads: % refused (the head moves only by appending an event)', TG_OP
        USING ERRCODE = 'KL009';
END;
$$;

CREATE TRIGGER audit_chain_heads_guard
    BEFORE UPDATE OR DELETE ON audit_chain_heads
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_chain_heads_no_truncate
    BEFORE TRUNCATE ON audit_chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('the audit chain heads are kept');

-- Every tenant has its chain head from the start, so appending never has to create one.
INSERT INTO audit_chain_heads (tenant_id) SELECT id FROM tenants;

CREATE FUNCTION audit_open_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_chain_heads (tenant_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER tenants_open_audit_chain
    AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION audit_open_chain();

-- The back office's own records, next to the audit log because staff write them (and every such
-- write is audited): notes on players, and reconciliation runs with their findings.

-- Free-text notes staff keep on a player (KYC calls, disputes). Append-only like the audit log:
-- a note is corrected by another note.
CREATE TABLE staff_notes (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    player_id   uuid NOT NULL,
    staff_id    uuid NOT NULL,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at  timestamptz NOT NULL,
    CONSTRAINT staff_notes_player_fkey FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    CONSTRAINT staff_notes_staff_fkey FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, id)
);
CREATE INDEX staff_notes_player_idx ON staff_notes (tenant_id, player_id, created_at DESC);
CREATE TRIGGER staff_notes_append_only
    BEFORE UPDATE OR DELETE ON staff_notes
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('staff notes are append-only');

-- One comparison of a PSP's records with ours (`kasa reconcile`, or the back office's button).
-- tenant_id NULL: a command-line run over every tenant.
CREATE TABLE reconciliation_runs (
    id               uuid PRIMARY KEY,
    tenant_id        uuid REFERENCES tenants (id),
    -- NULL: every enabled provider.
    provider         ledger_provider_name,
    since            timestamptz,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    -- 'staff:<id>' or 'system:cli'.
    actor            text NOT NULL,
    records_checked  integer NOT NULL DEFAULT 0,
    findings_new     integer NOT NULL DEFAULT 0,
    findings_seen    integer NOT NULL DEFAULT 0,
    error            text
);
CREATE INDEX reconciliation_runs_tenant_idx ON reconciliation_runs (tenant_id, started_at DESC);

-- A difference between a PSP and our books. One row per (provider, reference, kind), however
-- often a run finds it: a re-run refreshes last_seen_at and never adds a duplicate. The reference
-- is the PSP's id of the object (checkout session, payout) or, when the PSP has none for it, ours.
CREATE TABLE reconciliation_findings (
    id                     uuid PRIMARY KEY,
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    provider               ledger_provider_name NOT NULL,
    reference              text NOT NULL CHECK (length(reference) BETWEEN 1 AND 255),
    kind                   text NOT NULL CHECK (kind IN (
                               'missing_in_ledger', 'missing_at_psp', 'amount_mismatch', 'status_mismatch')),
    severity               text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    status                 text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    -- Our object, when there is one: ('deposit', id), ('withdrawal', id), ('payout_attempt', id).
    object_type            text,
    object_id              uuid,
    player_id              uuid,
    currency               ledger_currency_code,
    psp_amount_minor       bigint,
    ledger_amount_minor    bigint,
    psp_status             text,
    ledger_status          text,
    message                text NOT NULL,
    -- What each side said, as read during the run.
    raw                    jsonb NOT NULL DEFAULT '{}'::jsonb,
    first_seen_at          timestamptz NOT NULL,
    last_seen_at           timestamptz NOT NULL,
    first_run_id           uuid NOT NULL REFERENCES reconciliation_runs (id),
    last_run_id            uuid NOT NULL REFERENCES reconciliation_runs (id),
    resolved_at            timestamptz,
    resolved_by            uuid,
    resolution_note        text CHECK (length(resolution_note) BETWEEN 1 AND 2000),
    -- The journal that corrected the money, when resolving needed one.
    correcting_journal_id  uuid,
    CONSTRAINT reconciliation_findings_key UNIQUE (provider, reference, kind),
    CONSTRAINT reconciliation_findings_resolution CHECK (
        (status = 'resolved') = (resolved_at IS NOT NULL AND resolution_note IS NOT NULL))
);
CREATE INDEX reconciliation_findings_tenant_idx
    ON reconciliation_findings (tenant_id, status, last_seen_at DESC);
