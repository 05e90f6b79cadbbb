//! Verification: recomputes each chain event by event against its head and its latest signed
//! checkpoint, and names the first broken link.

use app::domain::ids::TenantId;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::*;

/// Why a chain is broken at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The event's content no longer matches its hash: it was edited.
    HashMismatch,
    /// The event's `prev_hash` is not its predecessor's hash: an event before it was replaced.
    BrokenLink,
    /// An event with this `seq` is missing: it was removed (or the rest renumbered).
    MissingEvent,
    /// The last events are missing or replaced: the stored chain ends before, or differently
    /// from, its head.
    HeadMismatch,
    /// The chain ends before the event a signed checkpoint recorded: its tail was removed (and
    /// the head patched back to match).
    CheckpointMissing,
    /// The event at a signed checkpoint's place is not the one it recorded: the chain was cut
    /// there and written anew.
    CheckpointMismatch,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::HashMismatch => "hash_mismatch",
            BreakKind::BrokenLink => "broken_link",
            BreakKind::MissingEvent => "missing_event",
            BreakKind::HeadMismatch => "head_mismatch",
            BreakKind::CheckpointMissing => "checkpoint_missing",
            BreakKind::CheckpointMismatch => "checkpoint_mismatch",
        }
    }
}

/// The first broken link of one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub seq: i64,
    /// The event found at that place, if any.
    pub event_id: Option<Uuid>,
    pub kind: BreakKind,
    pub detail: String,
}

/// One tenant's chain, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantChainReport {
    pub tenant_id: TenantId,
    pub tenant_slug: String,
    pub events_checked: i64,
    pub head_seq: i64,
    /// The latest validly signed checkpoint the chain was checked against, if any.
    pub checkpoint: Option<CheckpointChecked>,
    pub first_break: Option<ChainBreak>,
    /// Events queued for the chainer and not linked yet (see `audit::chainer`).
    pub unchained: i64,
    /// Of those, the ones older than [`super::UNCHAINED_GRACE`]: the chainer is behind or down,
    /// and the report is not `ok`.
    pub unchained_overdue: i64,
}

impl TenantChainReport {
    /// No broken link, and nothing waiting for the chainer longer than it should.
    pub fn ok(&self) -> bool {
        self.first_break.is_none() && self.unchained_overdue == 0
    }
}

/// A checkpoint a chain was verified against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointChecked {
    pub seq: i64,
    pub at: DateTime<Utc>,
}

/// The checkpoint file as verification read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointFileReport {
    pub path: String,
    pub lines: usize,
    /// Lines that are not validly signed checkpoints (a forged or damaged file): each makes the
    /// report not ok.
    pub invalid: Vec<checkpoint::InvalidCheckpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub ok: bool,
    pub checked_at: DateTime<Utc>,
    pub events_checked: i64,
    pub tenants: Vec<TenantChainReport>,
    /// Absent when verified without checkpoints.
    pub checkpoints: Option<CheckpointFileReport>,
}

/// A brand's chain head as verification reads it.
#[derive(sqlx::FromRow)]
struct ChainHead {
    tenant_id: TenantId,
    tenant_slug: String,
    last_seq: i64,
    last_hash: Vec<u8>,
}

/// Recomputes the chain of `tenant_id` (or of every tenant) from the first event, streaming the
/// events in `seq` order, and reports each chain's first broken link.
pub async fn verify_chain(
    pool: &PgPool,
    tenant_id: Option<TenantId>,
) -> Result<ChainReport, sqlx::Error> {
    verify_chain_with(pool, tenant_id, None).await
}

/// Like [`verify_chain`], and checks each chain against its latest checkpoint in `checkpoints`
/// (read before this call: a checkpoint then never names a head newer than the snapshot).
///
/// Heads and events are read in one REPEATABLE READ, READ ONLY transaction: one snapshot, so
/// events committed while the verification runs are neither half seen nor taken for a break.
pub async fn verify_chain_with(
    pool: &PgPool,
    tenant_id: Option<TenantId>,
    checkpoints: Option<&checkpoint::CheckpointLog>,
) -> Result<ChainReport, sqlx::Error> {
    let mut snapshot = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot)
        .await?;
    let heads: Vec<ChainHead> = sqlx::query_as(
        "SELECT h.tenant_id, t.slug AS tenant_slug, h.last_seq, h.last_hash
           FROM audit_chain_heads h JOIN tenants t ON t.id = h.tenant_id
          WHERE $1::uuid IS NULL OR h.tenant_id = $1
          ORDER BY t.slug",
    )
    .bind(tenant_id)
    .fetch_all(&mut *snapshot)
    .await?;
    let mut tenants = Vec::with_capacity(heads.len());
    for ChainHead {
        tenant_id,
        tenant_slug,
        last_seq: head_seq,
        last_hash: head_hash,
    } in heads
    {
        let checkpointed = checkpoints.and_then(|log| log.latest.get(&tenant_id).copied());
        let mut chain = ChainWalk::new(head_seq, &head_hash);
        chain.checkpoint = checkpointed;
        {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE tenant_id = $1 ORDER BY seq"
            );
            let mut events = sqlx::query_as::<_, StoredEvent>(&sql)
                .bind(tenant_id)
                .fetch(&mut *snapshot);
            while let Some(event) = events.try_next().await? {
                if !chain.step(&event) {
                    break;
                }
            }
        }
        let (events_checked, first_break) = chain.finish();
        let (unchained, unchained_overdue): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE at < now() - make_interval(secs => $2))
               FROM audit_pending WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .bind(super::UNCHAINED_GRACE.as_secs_f64())
        .fetch_one(&mut *snapshot)
        .await?;
        tenants.push(TenantChainReport {
            tenant_id,
            tenant_slug,
            events_checked,
            head_seq,
            checkpoint: checkpointed.map(|head| CheckpointChecked {
                seq: head.seq,
                at: head.at,
            }),
            first_break,
            unchained,
            unchained_overdue,
        });
    }
    snapshot.commit().await?;
    let checkpoints = checkpoints.map(|log| CheckpointFileReport {
        path: log.path.display().to_string(),
        lines: log.lines,
        invalid: log.invalid.clone(),
    });
    Ok(ChainReport {
        ok: tenants.iter().all(TenantChainReport::ok)
            && checkpoints
                .as_ref()
                .is_none_or(|file| file.invalid.is_empty()),
        checked_at: Utc::now(),
        events_checked: tenants.iter().map(|tenant| tenant.events_checked).sum(),
        tenants,
        checkpoints,
    })
}

/// Walks one chain event by event; stops at the first break.
pub(super) struct ChainWalk {
    head_seq: i64,
    head_hash: Vec<u8>,
    expected_seq: i64,
    prev_hash: [u8; 32],
    checked: i64,
    first_break: Option<ChainBreak>,
    /// The latest signed checkpoint: the chain must reach it and hold its event.
    checkpoint: Option<checkpoint::CheckpointedHead>,
}

impl ChainWalk {
    pub(super) fn new(head_seq: i64, head_hash: &[u8]) -> ChainWalk {
        ChainWalk {
            head_seq,
            head_hash: head_hash.to_vec(),
            expected_seq: 1,
            prev_hash: GENESIS_HASH,
            checked: 0,
            first_break: None,
            checkpoint: None,
        }
    }

    /// Checks the next event; false once the chain is broken.
    pub(super) fn step(&mut self, event: &StoredEvent) -> bool {
        let broken = |kind, seq, detail: String| ChainBreak {
            seq,
            event_id: Some(event.id),
            kind,
            detail,
        };
        self.first_break = if event.seq != self.expected_seq {
            Some(ChainBreak {
                event_id: None,
                ..broken(
                    BreakKind::MissingEvent,
                    self.expected_seq,
                    format!(
                        "event {} is missing; the next stored event is {}",
                        self.expected_seq, event.seq
                    ),
                )
            })
        } else if *event.prev_hash != self.prev_hash {
            Some(broken(
                BreakKind::BrokenLink,
                event.seq,
                format!(
                    "prev_hash {} is not the hash of event {} ({})",
                    hex::encode(*event.prev_hash),
                    event.seq - 1,
                    hex::encode(self.prev_hash)
                ),
            ))
        } else if event.compute_hash() != *event.hash {
            Some(broken(
                BreakKind::HashMismatch,
                event.seq,
                format!(
                    "the event's content does not match its hash {}: it was changed after it was written",
                    hex::encode(*event.hash)
                ),
            ))
        } else {
            self.checkpoint
                .filter(|checkpoint| checkpoint.seq == event.seq && checkpoint.hash != *event.hash)
                .map(|checkpoint| {
                    broken(
                        BreakKind::CheckpointMismatch,
                        event.seq,
                        format!(
                            "the checkpoint of {} recorded event {} with hash {}; the chain holds {} there: it was cut and written anew",
                            checkpoint.at.to_rfc3339(),
                            checkpoint.seq,
                            hex::encode(checkpoint.hash),
                            hex::encode(*event.hash)
                        ),
                    )
                })
        };
        if self.first_break.is_some() {
            return false;
        }
        self.checked += 1;
        self.expected_seq += 1;
        self.prev_hash = *event.hash;
        true
    }

    pub(super) fn finish(mut self) -> (i64, Option<ChainBreak>) {
        let last_seq = self.expected_seq - 1;
        if let Some(checkpoint) = self.checkpoint
            && self.first_break.is_none()
            && checkpoint.seq > last_seq
        {
            self.first_break = Some(ChainBreak {
                seq: last_seq + 1,
                event_id: None,
                kind: BreakKind::CheckpointMissing,
                detail: format!(
                    "the chain ends at event {last_seq}, but the checkpoint of {} recorded event {}: events {} to {} were removed",
                    checkpoint.at.to_rfc3339(),
                    checkpoint.seq,
                    last_seq + 1,
                    checkpoint.seq
                ),
            });
        }
        if self.first_break.is_none()
            && (last_seq != self.head_seq || self.prev_hash[..] != self.head_hash[..])
        {
            self.first_break = Some(ChainBreak {
                seq: if last_seq < self.head_seq {
                    last_seq + 1
                } else {
                    self.head_seq
                },
                event_id: None,
                kind: BreakKind::HeadMismatch,
                detail: format!(
                    "the chain head is at event {} ({}), the stored chain ends at event {last_seq} ({})",
                    self.head_seq,
                    hex::encode(&self.head_hash),
                    hex::encode(self.prev_hash)
                ),
            });
        }
        (self.checked, self.first_break)
    }
}
