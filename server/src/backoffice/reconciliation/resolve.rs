//! Resolving a finding: with a note, and where the money is wrong a fix through the normal paths
//! (apply what the PSP says through the payments path, post a correcting debit, or ask for a
//! correcting credit that a second staff member approves), in one audited transaction.

use app::api::RequestCtx;
use app::backoffice::reconciliation::{FindingRow, RESOLUTION_NOTE_LENGTH_MAX};
use app::domain::ids::{PlayerId, TenantId};
use app::domain::reconciliation::{FindingStatus, WebhookEventStatus};
use app::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::corrections::{
    Correction, check_cap, correction_amount, credit_request, debit, object_journal, psp_update,
};
use super::findings::finding_row;
use crate::audit::{self, Actor, AuditEvent};
use crate::auth::StaffMember;
use crate::backoffice::checked_idempotency_key;
use crate::backoffice::credits::request as credits;
use crate::error::{ServerError, ServerResult};
use crate::psp::ProviderUpdate;
use crate::services::Services;

/// The audit action of a resolution.
pub const RESOLVED_ACTION: &str = "reconciliation.finding_resolved";

/// What resolving needs to know of a finding.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FindingKey {
    #[sqlx(try_from = "String")]
    pub status: FindingStatus,
    pub provider: String,
    pub reference: String,
    pub object_type: Option<String>,
    pub object_id: Option<Uuid>,
    pub player_id: Option<PlayerId>,
    pub currency: Option<String>,
}

async fn finding_key(
    conn: &mut sqlx::PgConnection,
    tenant_id: TenantId,
    finding_id: Uuid,
    lock: bool,
) -> ServerResult<FindingKey> {
    let sql = format!(
        "SELECT status, provider::text, reference, object_type, object_id, player_id, currency::text
           FROM reconciliation_findings WHERE tenant_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    Ok(sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(finding_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| AppError::not_found("Finding"))?)
}

/// A resolution as the staff member asked for it, checked.
pub struct Resolution<'a> {
    pub note: &'a str,
    pub correction: Correction,
    /// The amount as typed (empty when the fix needs none); kept as typed for the replay check.
    pub amount: &'a str,
    pub scoped_key: String,
}

impl<'a> Resolution<'a> {
    fn checked(
        note: &'a str,
        correction: Option<&str>,
        amount: Option<&'a str>,
        idempotency_key: &str,
    ) -> ServerResult<Resolution<'a>> {
        let note = note.trim();
        if note.is_empty() || note.chars().count() > RESOLUTION_NOTE_LENGTH_MAX {
            return Err(AppError::invalid(
                "note",
                format!("Write a note of 1 to {RESOLUTION_NOTE_LENGTH_MAX} characters."),
            )
            .into());
        }
        let correction = Correction::parse(correction)?;
        let idempotency_key = checked_idempotency_key(idempotency_key)?;
        Ok(Resolution {
            note,
            correction,
            amount: amount.map(str::trim).unwrap_or_default(),
            scoped_key: format!("finding-resolve:{idempotency_key}"),
        })
    }
}

/// Who resolves which finding, and when.
struct Resolving<'a> {
    services: &'a Services,
    ctx: &'a RequestCtx,
    tenant_id: TenantId,
    staff: &'a StaffMember,
    finding_id: Uuid,
    now: DateTime<Utc>,
}

/// Resolves an open finding: the fix (if any), the resolution and its audit event commit
/// together. The finding's row is locked, so two resolutions cannot both happen; the same key
/// again returns the finding, the same key with another note, fix or amount is
/// `idempotency_key_reused`. A fix is capped at the finding's own discrepancy. A credit is not
/// posted here: it becomes a credit request that a second staff member approves (the finding
/// resolves with that approval); a debit posts at once.
#[allow(clippy::too_many_arguments)] // the trait method's arguments, as the staff member sent them
pub async fn resolve(
    services: &Services,
    ctx: &RequestCtx,
    tenant_id: TenantId,
    staff: &StaffMember,
    finding_id: Uuid,
    note: &str,
    correction: Option<&str>,
    amount: Option<&str>,
    idempotency_key: &str,
) -> ServerResult<FindingRow> {
    let resolution = Resolution::checked(note, correction, amount, idempotency_key)?;
    let pool = services.pool();
    // The PSP is asked before the transaction: no lock is held across the network call.
    let mut conn = pool.acquire().await?;
    let key = finding_key(&mut conn, tenant_id, finding_id, false).await?;
    let update = match resolution.correction {
        Correction::ApplyPsp if key.status == FindingStatus::Open => {
            Some(psp_update(services, &mut conn, &key).await?)
        }
        _ => None,
    };
    drop(conn);

    let resolving = Resolving {
        services,
        ctx,
        tenant_id,
        staff,
        finding_id,
        now: services.now(),
    };
    let mut tx = pool.begin().await?;
    let key = finding_key(&mut tx, tenant_id, finding_id, true).await?;
    if replayed(&mut tx, &resolving, &key, &resolution).await? {
        tx.commit().await?;
        return finding_row(pool, tenant_id, finding_id).await;
    }
    let journal_id = match resolution.correction {
        Correction::Credit => {
            request_credit(&mut tx, &resolving, &key, &resolution).await?;
            // The finding stays open until a second staff member approves the credit.
            tx.commit().await?;
            return finding_row(pool, tenant_id, finding_id).await;
        }
        _ => correct(&mut tx, &resolving, &key, &resolution, update).await?,
    };
    mark_resolved(&mut tx, &resolving, &key, &resolution, journal_id).await?;
    tx.commit().await?;
    finding_row(pool, tenant_id, finding_id).await
}

/// Whether this key already resolved the finding the same way (true: answer with the finding
/// as it is). The same key with another resolution, a finding resolved otherwise, or one whose
/// correction waits for approval is refused; nothing was written.
async fn replayed(
    tx: &mut sqlx::PgConnection,
    resolving: &Resolving<'_>,
    key: &FindingKey,
    resolution: &Resolution<'_>,
) -> ServerResult<bool> {
    let (tenant_id, finding_id) = (resolving.tenant_id, resolving.finding_id);
    // This key already asked for a credit: the same resolution again, or a reused key.
    if let Some(existing) = credits::existing_request(
        &mut *tx,
        tenant_id,
        resolving.staff.id,
        &resolution.scoped_key,
    )
    .await?
    {
        let same = resolution.correction == Correction::Credit
            && credit_request(key, finding_id, resolution)
                .is_ok_and(|request| request.sha256() == existing.request_sha256);
        return if same {
            Ok(true)
        } else {
            Err(key_reused().into())
        };
    }
    if key.status != FindingStatus::Open {
        let earlier: Option<EarlierResolution> = sqlx::query_as(
            "SELECT reason, after FROM audit_events
              WHERE tenant_id = $1 AND actor_id = $2 AND action = $3
                AND idempotency_key = $4 AND target_id = $5
              LIMIT 1",
        )
        .bind(tenant_id)
        .bind(resolving.staff.id.to_string())
        .bind(RESOLVED_ACTION)
        .bind(&resolution.scoped_key)
        .bind(finding_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        return match earlier {
            Some(earlier) if earlier.is(resolution) => Ok(true),
            Some(_) => Err(key_reused().into()),
            None => Err(AppError::new(
                ErrorCode::InvalidStateTransition,
                "This finding is already resolved.",
            )
            .into()),
        };
    }
    let waiting: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM credit_requests
                         WHERE tenant_id = $1 AND finding_id = $2 AND state = 'pending')",
    )
    .bind(tenant_id)
    .bind(finding_id)
    .fetch_one(&mut *tx)
    .await?;
    if waiting {
        return Err(AppError::new(
            ErrorCode::InvalidStateTransition,
            "A correction of this finding waits for approval (Credit approvals): decide it first.",
        )
        .into());
    }
    Ok(false)
}

/// The audit event of an earlier resolution with the same key.
#[derive(sqlx::FromRow)]
struct EarlierResolution {
    reason: Option<String>,
    after: Option<serde_json::Value>,
}

impl EarlierResolution {
    fn is(&self, resolution: &Resolution<'_>) -> bool {
        let after = self.after.clone().unwrap_or_default();
        self.reason.as_deref() == Some(resolution.note)
            && after["correction"].as_str() == Some(resolution.correction.as_str())
            && after["amount"].as_str().unwrap_or_default() == resolution.amount
    }
}

/// Applies a fix that is not a credit: nothing, the PSP's word, or a correcting debit; the
/// journal that carries the fix, if any.
async fn correct(
    tx: &mut sqlx::PgConnection,
    resolving: &Resolving<'_>,
    key: &FindingKey,
    resolution: &Resolution<'_>,
    update: Option<ProviderUpdate>,
) -> ServerResult<Option<Uuid>> {
    let (tenant_id, finding_id) = (resolving.tenant_id, resolving.finding_id);
    match resolution.correction {
        Correction::None => Ok(None),
        Correction::ApplyPsp => {
            let update = update.ok_or_else(AppError::internal)?;
            let outcome = resolving
                .services
                .apply_update(tx, &key.provider, &update, resolving.now)
                .await?;
            if outcome.status != WebhookEventStatus::Applied {
                return Err(AppError::new(
                    ErrorCode::InvalidStateTransition,
                    format!(
                        "What the PSP reports changes nothing here ({}); resolve with a note or an adjustment.",
                        outcome.note.unwrap_or_default()
                    ),
                ).into());
            }
            object_journal(tx, key).await
        }
        Correction::Credit => Err(ServerError::internal(
            "a correcting credit is requested, not posted",
        )),
        Correction::Debit => {
            let (player_id, amount) = correction_amount(key, resolution.amount)?;
            check_cap(
                tx,
                tenant_id,
                finding_id,
                key,
                resolution.correction,
                amount,
            )
            .await?;
            let journal_id = debit(
                tx,
                tenant_id,
                resolving.staff,
                finding_id,
                player_id,
                amount,
                resolution.note,
            )
            .await?;
            Ok(Some(journal_id))
        }
    }
}

/// A correcting credit: a credit request that a second staff member approves.
async fn request_credit(
    tx: &mut sqlx::PgConnection,
    resolving: &Resolving<'_>,
    key: &FindingKey,
    resolution: &Resolution<'_>,
) -> ServerResult<()> {
    let (tenant_id, finding_id) = (resolving.tenant_id, resolving.finding_id);
    let request = credit_request(key, finding_id, resolution)?;
    check_cap(
        tx,
        tenant_id,
        finding_id,
        key,
        resolution.correction,
        request.amount,
    )
    .await?;
    credits::request(
        tx,
        resolving.ctx,
        tenant_id,
        resolving.staff,
        &request,
        resolving.now,
    )
    .await?;
    Ok(())
}

/// Marks the finding resolved, with its audit event.
async fn mark_resolved(
    tx: &mut sqlx::PgConnection,
    resolving: &Resolving<'_>,
    key: &FindingKey,
    resolution: &Resolution<'_>,
    journal_id: Option<Uuid>,
) -> ServerResult<()> {
    let Resolving {
        ctx,
        tenant_id,
        staff,
        finding_id,
        now,
        ..
    } = *resolving;
    sqlx::query(
        "UPDATE reconciliation_findings
            SET status = 'resolved', resolved_at = $3, resolved_by = $4, resolution_note = $5,
                correcting_journal_id = $6
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(finding_id)
    .bind(now)
    .bind(staff.id)
    .bind(resolution.note)
    .bind(journal_id)
    .execute(&mut *tx)
    .await?;
    let event = AuditEvent {
        tenant_id,
        actor: Actor::Staff(staff.id),
        action: RESOLVED_ACTION.into(),
        target_type: "reconciliation_finding".into(),
        target_id: finding_id.to_string(),
        before: Some(
            serde_json::json!({"status": "open", "provider": key.provider, "reference": key.reference}),
        ),
        after: Some(serde_json::json!({
            "status": "resolved",
            "correction": resolution.correction.as_str(),
            "amount": resolution.amount,
            "correcting_journal_id": journal_id,
        })),
        reason: Some(resolution.note.to_owned()),
        request_id: audit::request_id(ctx),
        idempotency_key: Some(resolution.scoped_key.clone()),
        ip: audit::client_ip(ctx),
        at: now,
    };
    audit::record(tx, &event).await?;
    Ok(())
}

fn key_reused() -> AppError {
    AppError::new(
        ErrorCode::IdempotencyKeyReused,
        "This request's key was already used for a different resolution; nothing was changed.",
    )
}
