use super::verify::ChainWalk;
use super::*;
use app::domain::ids::TenantId;

fn sample() -> StoredEvent {
    StoredEvent {
        tenant_id: TenantId(Uuid::nil()),
        seq: 1,
        id: Uuid::from_u128(1),
        actor_type: "staff".into(),
        actor_id: "a".into(),
        action: "deposit.captured".into(),
        target_type: "deposit".into(),
        target_id: "d\"1".into(),
        before: None,
        after: Some(serde_json::json!({"z": 1, "a": [true, null, 1.5], "é": "x"})),
        reason: None,
        request_id: Some("r".into()),
        idempotency_key: None,
        ip: None,
        at: DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc),
        prev_hash: Hash32(GENESIS_HASH),
        hash: Hash32([0; 32]),
    }
}

// Proves the canonical text is exactly the documented one: sorted keys at every depth, no
// whitespace, nulls for absent values, six fractional digits in UTC.
#[test]
fn canonical_text_is_the_documented_one() {
    assert_eq!(
        canonical_event(&sample()),
        "{\"action\":\"deposit.captured\",\"actor_id\":\"a\",\"actor_type\":\"staff\",\
         \"after\":{\"a\":[true,null,1.5],\"z\":1,\"é\":\"x\"},\"at\":\"2025-01-02T03:04:05.123456Z\",\
         \"before\":null,\"id\":\"00000000-0000-0000-0000-000000000001\",\"idempotency_key\":null,\
         \"ip\":null,\"reason\":null,\"request_id\":\"r\",\"seq\":1,\"target_id\":\"d\\\"1\",\
         \"target_type\":\"deposit\",\"tenant_id\":\"00000000-0000-0000-0000-000000000000\"}"
    );
}

// Proves the walk names the edited event, not a later one, and accepts an intact chain.
#[test]
fn walk_reports_the_edited_event() {
    let mut first = sample();
    first.hash = Hash32(first.compute_hash());
    let mut second = sample();
    second.seq = 2;
    second.prev_hash = first.hash;
    second.hash = Hash32(second.compute_hash());
    let mut intact = ChainWalk::new(2, &second.hash[..]);
    assert!(intact.step(&first) && intact.step(&second));
    assert_eq!(intact.finish(), (2, None));

    let mut edited = first.clone();
    edited.reason = Some("changed".into());
    let mut walk = ChainWalk::new(2, &second.hash[..]);
    assert!(!walk.step(&edited));
    let (checked, broken) = walk.finish();
    assert_eq!(checked, 0);
    let broken = broken.unwrap();
    assert_eq!((broken.seq, broken.kind), (1, BreakKind::HashMismatch));
}
