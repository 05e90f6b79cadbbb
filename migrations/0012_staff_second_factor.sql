-- Staff two-factor log-in: a TOTP authenticator (RFC 6238) per staff member, the one-time
-- recovery codes that stand in for a lost device, the short-lived tickets that let a staff member
-- who must have a second factor set one up before any session exists, and the tenant's rule.

-- The tenant's rule "finance and owner log in with a second factor". A tenant without a row has
-- the default: required. The rule is in force in production, and elsewhere only when
-- KASA_STAFF_SECOND_FACTOR=required (server/src/config.rs).
CREATE TABLE staff_security_policies (
    tenant_id               uuid PRIMARY KEY REFERENCES tenants (id),
    second_factor_required  boolean NOT NULL DEFAULT true,
    updated_at              timestamptz NOT NULL,
    updated_by              uuid NOT NULL,
    CONSTRAINT staff_security_policies_staff_fkey FOREIGN KEY (tenant_id, updated_by) REFERENCES staff (tenant_id, id)
);

-- One authenticator per staff member. The secret is the shared HMAC key of RFC 4226 (160 bits,
-- its recommended size); it must be readable to check codes, so it is kept as is, and only the
-- recovery codes and tickets (which need only comparing) are kept as hashes.
CREATE TABLE staff_second_factors (
    tenant_id       uuid NOT NULL,
    staff_id        uuid NOT NULL,
    secret          bytea NOT NULL CHECK (length(secret) = 20),
    created_at      timestamptz NOT NULL,
    -- Set when the staff member proved, with a code, that their app holds the secret. Until then
    -- the row is an enrolment in progress and asks nothing at log-in.
    confirmed_at    timestamptz,
    -- The time step (unix seconds / 30) of the last accepted code. A code is accepted only for a
    -- later step, checked and moved in one UPDATE, so no code is ever accepted twice, not even by
    -- two log-ins at the same moment.
    last_used_step  bigint CHECK (last_used_step >= 0),
    PRIMARY KEY (tenant_id, staff_id),
    CONSTRAINT staff_second_factors_staff_fkey FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT staff_second_factors_used_when_confirmed CHECK (last_used_step IS NULL OR confirmed_at IS NOT NULL)
);

-- Recovery codes, shown once at enrolment. Each carries 80 random bits, so a plain SHA-256 is as
-- good as a slow hash here; a code is spent by `UPDATE … WHERE used_at IS NULL`, so only one
-- log-in can ever spend it. They go with their authenticator: a reset deletes both.
CREATE TABLE staff_recovery_codes (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    staff_id        uuid NOT NULL,
    code_sha256     bytea NOT NULL CHECK (length(code_sha256) = 32),
    created_at      timestamptz NOT NULL,
    used_at         timestamptz,
    CONSTRAINT staff_recovery_codes_code_key UNIQUE (tenant_id, staff_id, code_sha256),
    CONSTRAINT staff_recovery_codes_factor_fkey FOREIGN KEY (tenant_id, staff_id)
        REFERENCES staff_second_factors (tenant_id, staff_id) ON DELETE CASCADE
);

-- A staff member whose role needs a second factor and who has none gets no session at log-in,
-- only this ticket (in an HttpOnly cookie; the table keeps its SHA-256): it admits to the
-- enrolment functions alone, for ten minutes, and confirming the enrolment spends it.
CREATE TABLE staff_enrolment_tickets (
    token_sha256    bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
    tenant_id       uuid NOT NULL,
    staff_id        uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    CONSTRAINT staff_enrolment_tickets_staff_fkey FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT staff_enrolment_tickets_lifetime CHECK (expires_at > created_at)
);
CREATE INDEX staff_enrolment_tickets_staff_idx ON staff_enrolment_tickets (tenant_id, staff_id);

-- SELECT and INSERT come from migration 0011's default privileges. UPDATE where the code changes
-- rows: the rule, an enrolment's secret, confirmation and last step, a spent recovery code, a
-- spent ticket. DELETE only on the authenticator (a reset or a disabling; its recovery codes go
-- by the foreign key's cascade, which runs as their table's owner).
GRANT UPDATE ON staff_security_policies, staff_second_factors, staff_recovery_codes,
    staff_enrolment_tickets TO kasa_app;
GRANT DELETE ON staff_second_factors TO kasa_app;
