-- The deposit sweep takes due deposits in turn, and an installation keeps its own generated
-- secrets.
--
-- A pending deposit past its checkout's expiry is rechecked with its PSP until it ends. Some never
-- do (the PSP keeps saying "processing", does not answer, or is no longer enabled); ordered by
-- expiry alone, the oldest fifty of those would be picked first on every sweep and the rest never.
-- Each check therefore moves the deposit's next_check_at forward (with a growing backoff counted
-- in check_count), and the sweep takes the due deposits with the earliest next_check_at first.

ALTER TABLE deposits
    ADD COLUMN next_check_at timestamptz,
    ADD COLUMN check_count   integer NOT NULL DEFAULT 0 CHECK (check_count >= 0);

-- Deposits pending today are due from the moment the old sweep would have taken them.
UPDATE deposits
   SET next_check_at = COALESCE(checkout_expires_at, updated_at) + interval '10 minutes'
 WHERE state = 'pending';

CREATE INDEX deposits_next_check_idx ON deposits (next_check_at) WHERE state = 'pending';

-- Secrets this installation generated for itself (the mock PSP's webhook signing secret when none
-- is configured): random, created once on first start, the same for every process that shares
-- the database. Never a published value, so a forged webhook cannot carry a valid signature.
CREATE TABLE installation_secrets (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    value       text NOT NULL CHECK (length(value) >= 32),
    created_at  timestamptz NOT NULL
);
