use super::*;

// Proves a short run of the wallet benchmark on a fresh database plays rounds over HTTP and
// straight to the ledger without a failed call, prints every figure line, and that the retry
// storm's twenty copies of one bet cost exactly one journal and got one answer.
#[sqlx::test(migrations = "../migrations")]
async fn a_short_run_prints_its_figures_and_the_storm_costs_one_journal(pool: PgPool) {
    let config = Config::from_sources("", |_| None).unwrap();
    let plan = Plan {
        clients: 4,
        players: 20,
        phase: Duration::from_secs(2),
        warm_up: Duration::from_millis(200),
    };
    let options = (*pool.connect_options()).clone();
    let outcome = measure(options, &config, plan).await.unwrap();

    assert!(outcome.wallet_http.rounds > 0, "{outcome:?}");
    assert!(outcome.ledger.rounds > 0, "{outcome:?}");
    assert_eq!((outcome.wallet_http.errors, outcome.ledger.errors), (0, 0));
    assert_eq!(outcome.storm_journals, 1);
    assert_eq!(outcome.storm_answers_distinct, 1);
    assert!(outcome.passed());
    let lines = outcome.lines();
    for (line, prefix) in lines.iter().zip([
        "wallet-http: ",
        "ledger: ",
        "retry storm (20 × one tx): 1 journal(s)",
        "ratio wallet-http/ledger: ",
    ]) {
        assert!(line.starts_with(prefix), "{line}");
    }
    let ratio = lines[3].trim_start_matches("ratio wallet-http/ledger: ");
    assert!(
        ratio.parse::<f64>().is_ok_and(|ratio| ratio > 0.0),
        "{ratio}"
    );
    assert_eq!(ratio.split('.').nth(1).map(str::len), Some(2), "{ratio}");

    // The wallet's tenant holds exactly its rounds: one bet journal and one game transaction per
    // round and the storm's bet, one win journal per winning round.
    let wallet_bets: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger_journals j JOIN tenants t ON t.id = j.tenant_id
          WHERE t.slug = 'bench-wallet' AND j.kind = 'bet'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        wallet_bets > outcome.wallet_http.rounds as i64,
        "{wallet_bets}"
    );
}

// Proves the percentiles are read from the sorted latencies and an empty run reports zeros.
#[test]
fn percentiles_of_sorted_latencies() {
    let mut figures = Figures::default();
    assert_eq!(figures.percentile_ms(0.99), 0.0);
    assert_eq!(figures.rounds_per_second(), 0.0);
    figures.absorb(Figures {
        rounds: 100,
        elapsed: Duration::from_secs(2),
        bet_latencies_us: (1..=100).rev().map(|ms| ms * 1000).collect(),
        ..Figures::default()
    });
    assert_eq!(figures.percentile_ms(0.50), 51.0);
    assert_eq!(figures.percentile_ms(0.99), 99.0);
    assert_eq!(figures.rounds_per_second(), 50.0);
}
