-- Throttles that an attacker cannot turn against users (replaces login_throttle).
--
-- Every counter belongs to one brand: failures at brand A never slow brand B. A counter counts
-- attempts in a fixed window; once `attempts` reaches the scope's free allowance, each further
-- attempt sets `blocked_until` a growing delay ahead (1 minute, 2, 4, … capped), never a hard
-- lock. The check and the count are one statement under the row's lock, so concurrent guesses
-- cannot all pass the check before any is counted (server/src/auth/throttle.rs).
--
-- Subjects: login_account '<realm> <email>'; login_account_address '<realm> <email> <address>';
-- login_address, register_address '<address>' (an IPv6 client by its /64); register_brand '-';
-- second_factor '<staff id>'; staff_operation '<operation> <staff id>'.
DROP TABLE login_throttle;

CREATE TABLE throttles (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    scope             text NOT NULL CHECK (scope IN ('login_account', 'login_account_address',
                          'login_address', 'register_address', 'register_brand', 'second_factor',
                          'staff_operation')),
    subject           text NOT NULL CHECK (length(subject) BETWEEN 1 AND 400),
    attempts          integer NOT NULL CHECK (attempts >= 1),
    window_started_at timestamptz NOT NULL,
    last_attempt_at   timestamptz NOT NULL,
    blocked_until     timestamptz,
    PRIMARY KEY (tenant_id, scope, subject)
);

-- The purge removes counters whose window and delay are long over.
CREATE INDEX throttles_last_attempt_at ON throttles (last_attempt_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON throttles TO kasa_app;
