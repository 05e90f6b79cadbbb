-- Play: the games a brand offers, the game sessions its players open, and every wallet call a
-- game provider makes (bets, wins, rollbacks), each applied at most once.
--
-- A provider's transaction id is the unit of exactly-once: one row per (tenant, provider,
-- tx_id), inserted in the same Postgres transaction as the journal that moves its money, with a
-- hash of the request and the answer given, so that a replay gets the first answer and a
-- different request under the same id is refused. The rows are append-only, like the journals.
-- The rules live in server/src/games/; the database keeps the parts that must never break.

-- The games a brand offers, by provider and the provider's game code.
CREATE TABLE games (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    provider     text NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_-]{0,31}$'),
    code         text NOT NULL CHECK (code ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The published return to player, in percent (shown in the lobby); NULL when not published.
    rtp_percent  numeric(5, 2) CHECK (rtp_percent > 0 AND rtp_percent <= 100),
    enabled      boolean NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, provider, code)
);

-- A player's launch of one game: the opaque token the provider sends back on every call (only
-- its SHA-256 is kept), bound to the tenant, player, currency and game, with an expiry. Bets
-- need a live session; wins and rollbacks only name it (they may come after it ended).
CREATE TABLE game_sessions (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    player_id     uuid NOT NULL,
    provider      text NOT NULL,
    game_code     text NOT NULL,
    currency      ledger_currency_code NOT NULL,
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    CONSTRAINT game_sessions_expire_after_start CHECK (expires_at > created_at),
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    FOREIGN KEY (tenant_id, provider, game_code) REFERENCES games (tenant_id, provider, code)
);
CREATE INDEX game_sessions_player_idx ON game_sessions (tenant_id, player_id, created_at DESC);

-- Every wallet call that was applied. A bet or win moves `amount_minor` in one journal; a
-- rollback moves its bet's amount back in one journal, or, when Kasa never saw the bet, is a
-- tombstone (no journal, amount 0) that refuses the bet if it arrives later.
CREATE TABLE game_transactions (
    id              uuid PRIMARY KEY,
    -- Orders a player's calls (the history and the staff pages list by it).
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id       uuid NOT NULL,
    provider        text NOT NULL,
    tx_id           text NOT NULL CHECK (tx_id ~ '^[!-~]{1,100}$'),
    kind            text NOT NULL CHECK (kind IN ('bet', 'win', 'rollback')),
    player_id       uuid NOT NULL,
    session_id      uuid REFERENCES game_sessions (id),
    round_id        text NOT NULL CHECK (round_id ~ '^[!-~]{1,100}$'),
    game_code       text NOT NULL,
    currency        ledger_currency_code NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    -- The bet a win or rollback refers to (a provider transaction id of the same provider).
    reference_tx    text CHECK (reference_tx ~ '^[!-~]{1,100}$'),
    tombstone       boolean NOT NULL,
    journal_id      uuid UNIQUE REFERENCES ledger_journals (id),
    request_sha256  bytea NOT NULL CHECK (length(request_sha256) = 32),
    -- The answer given (provider-neutral: the balance after the call), replayed verbatim.
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    CONSTRAINT game_transactions_once UNIQUE (tenant_id, provider, tx_id),
    CONSTRAINT game_transactions_reference CHECK ((kind = 'bet') = (reference_tx IS NULL)),
    CONSTRAINT game_transactions_tombstone CHECK (NOT tombstone OR kind = 'rollback'),
    CONSTRAINT game_transactions_journal CHECK (tombstone = (journal_id IS NULL)),
    CONSTRAINT game_transactions_amount CHECK (tombstone = (amount_minor = 0)),
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id)
);
-- A bet is rolled back at most once, whatever the rollbacks' own ids.
CREATE UNIQUE INDEX game_transactions_one_rollback
    ON game_transactions (tenant_id, provider, reference_tx) WHERE kind = 'rollback';
CREATE INDEX game_transactions_reference_idx
    ON game_transactions (tenant_id, provider, reference_tx) WHERE kind = 'win';
CREATE INDEX game_transactions_round_idx ON game_transactions (tenant_id, provider, round_id);
CREATE INDEX game_transactions_player_idx ON game_transactions (tenant_id, player_id, seq DESC);
-- The loss-limit check sums a player's calls in a rolling window; the figures page by time.
CREATE INDEX game_transactions_player_time_idx
    ON game_transactions (tenant_id, player_id, currency, created_at);
CREATE INDEX game_transactions_created_idx ON game_transactions (tenant_id, created_at);
CREATE TRIGGER game_transactions_append_only
    BEFORE UPDATE OR DELETE ON game_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change('game transactions are append-only');
CREATE TRIGGER game_transactions_no_truncate
    BEFORE TRUNCATE ON game_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change('game transactions are append-only');

-- A player's loss limit for one rolling window (bets minus wins minus rollbacks), with the same
-- cooling-off rules as deposit limits: a decrease applies at once, an increase or a removal
-- waits in pending_* until its effective time.
CREATE TABLE loss_limits (
    tenant_id             uuid NOT NULL,
    player_id             uuid NOT NULL,
    period                text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    currency              ledger_currency_code NOT NULL,
    amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
    pending_amount_minor  bigint CHECK (pending_amount_minor > 0),
    pending_effective_at  timestamptz,
    updated_at            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, player_id, period),
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    CONSTRAINT loss_limits_pending_has_time
        CHECK (pending_amount_minor IS NULL OR pending_effective_at IS NOT NULL),
    CONSTRAINT loss_limits_pending_is_increase
        CHECK (pending_amount_minor IS NULL OR pending_amount_minor > amount_minor)
);

-- How often the game pages remind a player how long they have been playing; no row: never.
CREATE TABLE play_reminders (
    tenant_id         uuid NOT NULL,
    player_id         uuid NOT NULL,
    interval_minutes  integer NOT NULL CHECK (interval_minutes BETWEEN 5 AND 720),
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, player_id),
    FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id)
);

ALTER TABLE loss_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE play_reminders ENABLE ROW LEVEL SECURITY;
CREATE POLICY loss_limits_tenant ON loss_limits
    USING (tenant_id = NULLIF(current_setting('kasa.tenant_id', true), '')::uuid);
CREATE POLICY play_reminders_tenant ON play_reminders
    USING (tenant_id = NULLIF(current_setting('kasa.tenant_id', true), '')::uuid);
CREATE POLICY loss_limits_application ON loss_limits TO kasa_app USING (true) WITH CHECK (true);
CREATE POLICY play_reminders_application ON play_reminders TO kasa_app
    USING (true) WITH CHECK (true);

-- Loss limits change like deposit limits (upserted, removed); reminders are upserted, and
-- turning one off deletes its row.
GRANT UPDATE, DELETE ON loss_limits, play_reminders TO kasa_app;
