-- Database roles: the application cannot rewrite history.
--
-- Migrations run as the schema's owner (the role that owns every table, function and type).
-- `kasa serve` and the operator commands connect as kasa_app, a separate login that owns
-- nothing and is no superuser, so it can neither DISABLE TRIGGER (only an owner can ALTER a
-- table) nor SET session_replication_role = replica (only a superuser can): the append-only
-- triggers on journals, transfers and audit events bind it without exception. On top of the
-- triggers it has no UPDATE, DELETE or TRUNCATE privilege on those tables at all.
--
-- kasa_app is a fixed name, so that every later migration can grant to it. The embedded cluster
-- creates it (with LOGIN) before migrating; on an external database the administrator creates it
-- (README, "Database roles"), or it may be a NOLOGIN group granted to the login Kasa uses. When it
-- is missing and the migrating role may create roles, it is created here without LOGIN.
DO $$
BEGIN
    IF current_user = 'kasa_app' THEN
        RAISE EXCEPTION 'migrations must run as the schema owner, not as the application role kasa_app';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kasa_app') THEN
        BEGIN
            CREATE ROLE kasa_app NOLOGIN;
        EXCEPTION
            -- Another database of the same cluster created it at the same moment (parallel tests).
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'the role kasa_app does not exist and % may not create it: create it first (README, "Database roles")', current_user;
        END;
    END IF;
END $$;

-- Nobody but the owner creates objects in the schema (PostgreSQL 15 already starts that way).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO kasa_app;

-- Every table may be read and appended to; views only read. The migrations' own bookkeeping
-- (_sqlx_migrations) is the owner's alone.
DO $$
DECLARE
    relation record;
BEGIN
    FOR relation IN
        SELECT c.oid::regclass AS name, c.relkind
          FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm')
           AND c.relname <> '_sqlx_migrations'
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM kasa_app', relation.name);
        IF relation.relkind IN ('r', 'p') THEN
            EXECUTE format('GRANT SELECT, INSERT ON %s TO kasa_app', relation.name);
        ELSE
            EXECUTE format('GRANT SELECT ON %s TO kasa_app', relation.name);
        END IF;
    END LOOP;
END $$;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO kasa_app;

-- UPDATE only where the code changes rows, or locks them (SELECT … FOR UPDATE needs UPDATE):
-- the snapshot of ledger accounts (posting, the fold, rebuild-balances), the chain head (moved
-- only by the append trigger, which refuses every direct UPDATE), the state machines of
-- deposits, withdrawals, payout attempts, webhook events and reconciliation, sessions and log-in
-- throttling, upserted KYC states, deposit limits and withdrawal policies, the player row the
-- protection checks lock, and the mock PSP's books.
GRANT UPDATE ON
    ledger_accounts, audit_chain_heads, players,
    deposits, psp_webhook_events, mock_psp_checkouts,
    withdrawals, payout_attempts, withdrawal_policies, mock_psp_payout_scripts,
    sessions, login_throttle,
    player_kyc, deposit_limits,
    reconciliation_runs, reconciliation_findings, credit_requests
TO kasa_app;

-- DELETE only where the code deletes: expired and logged-out sessions, spent throttling rows,
-- removed deposit limits, replaced per-currency approval thresholds, and balance deltas the fold
-- has moved into the snapshot.
GRANT DELETE ON sessions, login_throttle, deposit_limits, ledger_balance_deltas,
    withdrawal_approval_thresholds TO kasa_app;

-- No TRUNCATE, TRIGGER or REFERENCES anywhere; in particular ledger_journals, ledger_transfers,
-- audit_events, staff_notes, KYC reviews, self-exclusions and withdrawal events are SELECT and
-- INSERT only.

-- Tables and sequences created by later migrations (run by the same owner) are readable and
-- appendable by kasa_app without a word; a later migration grants UPDATE or DELETE itself where
-- its code needs them.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO kasa_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO kasa_app;

-- Row-level security (migration 0007) bound only roles other than the owner, and Kasa used to be
-- the owner. kasa_app now is such a role; it scopes every query by tenant_id itself, as before, so
-- it keeps seeing every tenant's rows. Other roles (reporting, support logins) stay bound to the
-- tenant in `kasa.tenant_id`.
CREATE POLICY protection_policies_application ON protection_policies TO kasa_app
    USING (true) WITH CHECK (true);
CREATE POLICY player_kyc_application ON player_kyc TO kasa_app
    USING (true) WITH CHECK (true);
CREATE POLICY player_kyc_reviews_application ON player_kyc_reviews TO kasa_app
    USING (true) WITH CHECK (true);
CREATE POLICY deposit_limits_application ON deposit_limits TO kasa_app
    USING (true) WITH CHECK (true);
CREATE POLICY self_exclusions_application ON self_exclusions TO kasa_app
    USING (true) WITH CHECK (true);

-- Every function pins its search_path, so that no role can make a function (a trigger, the
-- posting function) resolve a table or operator to an object of its own making. This covers every
-- function of migrations 0001 to 0010 generically; later migrations write
-- `SET search_path = pg_catalog, public, pg_temp` on each function they create.
DO $$
DECLARE
    routine record;
BEGIN
    FOR routine IN
        SELECT p.oid::regprocedure AS signature
          FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND p.prokind IN ('f', 'p')
           -- Functions of an extension belong to the extension.
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER ROUTINE %s SET search_path = pg_catalog, public, pg_temp',
                       routine.signature);
    END LOOP;
END $$;
