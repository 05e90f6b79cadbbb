-- Audit chaining off the commit path. A money movement used to append its audit event to the
-- brand's chain inside its own transaction, holding the chain head's row lock until it
-- committed: one brand's audited movements committed one at a time. Now such a transaction
-- writes its event here, whole (everything the hash covers, its id included), and takes no
-- shared lock; the chainer (server/src/audit/chainer.rs) links committed events into the chain
-- in blocks.
--
-- Why a queue rather than a high-water mark over a sequence: a sequence hands out numbers in
-- the order transactions ask, not the order they commit, so "chain everything below n" would
-- skip an event whose transaction commits late (or have to wait on the snapshot's xmin). The
-- chainer instead takes what is committed and still queued; an event whose transaction commits
-- late is simply still queued at the next pass and is linked after everything linked before
-- its commit. Nothing can be skipped: an event leaves the queue only in the transaction that
-- chains it, and the guard below refuses any other way out.
CREATE TABLE audit_pending (
    -- Queue order within a brand (the order events are linked in when one block holds several).
    pos              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key to tenants: a key-share lock on the brand's row from every money movement
    -- is exactly the shared lock this table exists to avoid.
    tenant_id        uuid NOT NULL,
    id               uuid NOT NULL CONSTRAINT audit_pending_id_key UNIQUE,
    actor_type       text NOT NULL CHECK (actor_type IN ('staff', 'player', 'provider', 'system')),
    actor_id         text NOT NULL CHECK (length(actor_id) BETWEEN 1 AND 200),
    action           text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target_type      text NOT NULL CHECK (length(target_type) BETWEEN 1 AND 100),
    target_id        text NOT NULL CHECK (length(target_id) BETWEEN 1 AND 200),
    before           jsonb,
    after            jsonb,
    reason           text CHECK (length(reason) <= 2000),
    request_id       text CHECK (length(request_id) <= 200),
    idempotency_key  text CHECK (length(idempotency_key) <= 255),
    ip               text CHECK (length(ip) <= 100),
    at               timestamptz NOT NULL
);
CREATE INDEX audit_pending_tenant_idx ON audit_pending (tenant_id, pos);

-- A queued event is never changed, and leaves the queue only once the same event (same id,
-- same content) stands in the chain: the chainer's DELETE runs in the transaction that linked
-- it, so a crash in between leaves both where they were.
CREATE FUNCTION audit_pending_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_events e
         WHERE e.id = OLD.id AND e.tenant_id = OLD.tenant_id
           AND e.actor_type = OLD.actor_type AND e.actor_id = OLD.actor_id
           AND e.action = OLD.action AND e.target_type = OLD.target_type
           AND e.target_id = OLD.target_id
           AND e.before IS NOT DISTINCT FROM OLD.before AND e.after IS NOT DISTINCT FROM OLD.after
           AND e.reason IS NOT DISTINCT FROM OLD.reason
           AND e.request_id IS NOT DISTINCT FROM OLD.request_id
           AND e.idempotency_key IS NOT DISTINCT FROM OLD.idempotency_key
           AND e.ip IS NOT DISTINCT FROM OLD.ip AND e.at = OLD.at
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_pending: % refused (a queued event leaves only once it is chained)', TG_OP
        USING ERRCODE = 'KL009';
END;
$$;
CREATE TRIGGER audit_pending_guard
    BEFORE UPDATE OR DELETE ON audit_pending
    FOR EACH ROW EXECUTE FUNCTION audit_pending_guard();
CREATE TRIGGER audit_pending_no_truncate
    BEFORE TRUNCATE ON audit_pending
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('queued audit events are kept until chained');

-- The chainer runs as the application role and removes what it has linked (the guard above
-- decides what may go).
GRANT DELETE ON audit_pending TO kasa_app;
