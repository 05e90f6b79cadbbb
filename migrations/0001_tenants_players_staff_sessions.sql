-- Tenants (casino brands), the people who log in to them, and their server-side sessions.
-- Every row that belongs to a brand carries tenant_id; queries are always scoped by it.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE players (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    -- Stored normalised (trimmed, lower case) so uniqueness is case-insensitive.
    email          text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT players_tenant_email_key UNIQUE (tenant_id, email),
    -- Lets child tables reference (tenant_id, id) so a row can never point across tenants.
    CONSTRAINT players_tenant_id_key UNIQUE (tenant_id, id)
);

CREATE TABLE staff (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    email          text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    role           text NOT NULL CHECK (role IN ('support', 'finance', 'owner')),
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staff_tenant_email_key UNIQUE (tenant_id, email),
    CONSTRAINT staff_tenant_id_key UNIQUE (tenant_id, id)
);

-- The cookie holds a random token; only its SHA-256 is stored, so a database read does not
-- hand out live sessions.
CREATE TABLE sessions (
    token_sha256   bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    player_id      uuid,
    staff_id       uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    CONSTRAINT sessions_one_subject CHECK ((player_id IS NULL) <> (staff_id IS NULL)),
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Failed log-in attempts, per account ('account', '<tenant>/<realm>/<email>') and per client
-- address ('ip', '<address>'). Kept in Postgres so that every server process sees the same counts.
CREATE TABLE login_throttle (
    scope            text NOT NULL CHECK (scope IN ('account', 'ip')),
    subject          text NOT NULL,
    failures         integer NOT NULL CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL,
    last_failure_at  timestamptz NOT NULL,
    locked_until     timestamptz,
    PRIMARY KEY (scope, subject)
);
