-- Four eyes on money that staff create, and the maker-checker threshold per currency.
--
-- A manual credit (a staff adjustment that gives a player money, or a reconciliation correction
-- that does) is first a request; it posts only when a second, different staff member of finance
-- or owner role approves it. Debits stay immediate: taking money from a player creates none.

CREATE TABLE credit_requests (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    player_id           uuid NOT NULL,
    currency            ledger_currency_code NOT NULL,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    reason              text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    -- 'adjustment' (the back office's manual adjustment) or 'reconciliation' (a finding's fix).
    source              text NOT NULL CHECK (source IN ('adjustment', 'reconciliation')),
    -- The finding a correction resolves, and the object of ours it corrects ('deposit',
    -- 'payout_attempt'): approving a correction of an uncaptured deposit captures THAT deposit,
    -- so a later capture from the PSP finds it captured and credits nothing more.
    finding_id          uuid REFERENCES reconciliation_findings (id),
    object_type         text CHECK (object_type IN ('deposit', 'payout_attempt')),
    object_id           uuid,
    state               text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'declined')),
    requested_by        uuid NOT NULL,
    requested_at        timestamptz NOT NULL,
    -- The requester's key for the click (scoped by source); the same key with another request
    -- (reason, amount, player …: the hash) is refused.
    idempotency_key     text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_sha256      bytea NOT NULL CHECK (length(request_sha256) = 32),
    decided_by          uuid,
    decided_at          timestamptz,
    decision_note       text CHECK (length(decision_note) BETWEEN 1 AND 2000),
    decision_key        text CHECK (length(decision_key) BETWEEN 1 AND 255),
    -- The journal the approval posted (ledger key credit-request:<id>), exactly one.
    journal_id          uuid,
    CONSTRAINT credit_requests_player_fkey FOREIGN KEY (tenant_id, player_id) REFERENCES players (tenant_id, id),
    CONSTRAINT credit_requests_requested_by_fkey FOREIGN KEY (tenant_id, requested_by) REFERENCES staff (tenant_id, id),
    CONSTRAINT credit_requests_decided_by_fkey FOREIGN KEY (tenant_id, decided_by) REFERENCES staff (tenant_id, id),
    CONSTRAINT credit_requests_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT credit_requests_idempotency_key UNIQUE (tenant_id, requested_by, idempotency_key),
    -- The four eyes: whoever asked can never be the one who decides.
    CONSTRAINT credit_requests_four_eyes CHECK (requested_by <> decided_by),
    CONSTRAINT credit_requests_decided CHECK (
        (state = 'pending') = (decided_by IS NULL AND decided_at IS NULL AND decision_key IS NULL)),
    CONSTRAINT credit_requests_journal_when_approved CHECK ((state = 'approved') = (journal_id IS NOT NULL)),
    CONSTRAINT credit_requests_object CHECK ((object_type IS NULL) = (object_id IS NULL)),
    CONSTRAINT credit_requests_finding_when_reconciliation CHECK (
        (source = 'reconciliation') = (finding_id IS NOT NULL))
);
-- The queue: pending first, newest first.
CREATE INDEX credit_requests_queue_idx ON credit_requests (tenant_id, state, requested_at DESC);
-- One open correction per finding at a time.
CREATE UNIQUE INDEX credit_requests_one_pending_per_finding
    ON credit_requests (finding_id) WHERE state = 'pending';
CREATE INDEX credit_requests_object_idx ON credit_requests (object_id) WHERE object_id IS NOT NULL;
-- One journal per request, and no journal carries two requests.
CREATE UNIQUE INDEX credit_requests_journal_key ON credit_requests (journal_id) WHERE journal_id IS NOT NULL;

-- The maker-checker threshold per currency (major units of that currency): 1,000 EUR and
-- 1,000 JPY are not the same money. A currency without a row uses the policy's
-- approval_threshold.
CREATE TABLE withdrawal_approval_thresholds (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    currency           ledger_currency_code NOT NULL,
    threshold_major    numeric(20, 4) NOT NULL CHECK (threshold_major > 0),
    PRIMARY KEY (tenant_id, currency)
);
