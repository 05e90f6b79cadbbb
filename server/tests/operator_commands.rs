//! The operator commands (`kasa integrity-check`, `rebuild-balances`, `audit-verify`,
//! `reconcile`) run as the built binary against a database of their own, as an operator would.

use std::process::Output;

use sqlx::PgPool;

/// Every operator command that reads or repairs Kasa's tables, as its arguments.
const COMMANDS: [&[&str]; 6] = [
    &["integrity-check"],
    &["rebuild-balances", "--dry-run"],
    &["rebuild-balances"],
    &["audit-verify"],
    &["reconcile", "--dry-run"],
    &["reconcile"],
];

/// The URL of the test's own database (`DATABASE_URL` names the cluster's admin database).
async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let admin_url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test cluster");
    let (before_query, query) = admin_url.split_once('?').unwrap_or((&admin_url, ""));
    let (server, _) = before_query
        .rsplit_once('/')
        .expect("DATABASE_URL names a database");
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

/// Runs the `kasa` binary with `args` against `url`, outside any configuration file.
async fn kasa(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_kasa"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("KASA_CONFIG", "/dev/null")
        .env("KASA_ENVIRONMENT", "test")
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("the kasa binary runs")
}

async fn public_tables(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(pool)
        .await
        .unwrap()
}

// Proves every operator command on a database that was never migrated says so in words (exit 1,
// "not been migrated", what to run), never a missing relation, and changes nothing; and that after
// `kasa migrate` each of them runs and succeeds on the empty installation.
#[sqlx::test(migrations = false)]
async fn operator_commands_on_an_unmigrated_database_say_so(pool: PgPool) {
    let url = database_url(&pool).await;
    for args in COMMANDS {
        let output = kasa(&url, args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("this database has not been migrated: none of Kasa's"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("Run `kasa migrate`"), "{args:?}: {stderr}");
        assert!(!stderr.contains("relation"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: no report on stdout");
    }
    assert_eq!(public_tables(&pool).await, 0, "nothing was created");

    let migrated = kasa(&url, &["migrate"]).await;
    assert_eq!(migrated.status.code(), Some(0), "{migrated:?}");
    for args in COMMANDS {
        let output = kasa(&url, args).await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

// Proves a database behind the binary (its newest migration not applied) is refused the same
// way, naming the missing migration.
#[sqlx::test(migrations = false)]
async fn operator_commands_on_an_older_schema_name_the_missing_migration(pool: PgPool) {
    let url = database_url(&pool).await;
    let migrated = kasa(&url, &["migrate"]).await;
    assert_eq!(migrated.status.code(), Some(0), "{migrated:?}");
    let newest: i64 = sqlx::query_scalar(
        "DELETE FROM _sqlx_migrations
          WHERE version = (SELECT max(version) FROM _sqlx_migrations)
      RETURNING version",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    let output = kasa(&url, &["audit-verify"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("has not been migrated to this version of Kasa"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("missing {newest:04} ")),
        "{stderr}"
    );
    assert!(stderr.contains("Run `kasa migrate`"), "{stderr}");
}
