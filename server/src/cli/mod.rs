//! Command-line entry point: parses `kasa <subcommand>` and runs it on a Tokio runtime.
//! Every subcommand uses the same configuration and database as `kasa serve`.

pub mod audit;
pub mod ledger;
pub mod reconcile;

use std::process::ExitCode;

use crate::config::Config;

const USAGE: &str = "\
usage: kasa <command> [options]

commands:
  serve                                  run the web server (default)
  migrate                                apply database migrations and exit
  db start | db stop | db url            manage the embedded Postgres cluster
  integrity-check [--tenant SLUG]        verify the ledger's invariants; JSON report, non-zero on violation
  rebuild-balances [--tenant SLUG] [--dry-run]
                                         recompute account snapshots from transfers
  bench ledger [--seconds N]             ledger throughput benchmark (run the release build)
  audit-verify [--tenant SLUG]           recompute the audit hash chains and check them against the signed
                                         checkpoints; JSON report, non-zero on a break
  audit-checkpoint                       sign the audit chain heads into the checkpoint file now
  reconcile [--provider P] [--since DAY] [--tenant SLUG] [--dry-run]
                                         compare PSP records with the ledger; JSON report, non-zero on findings
  bench audit [--seconds N]              cost of one audit event per posting (run the release build)
  bench wallet [--seconds N]             game wallet rounds over signed HTTP next to direct ledger posts
  bench http [--seconds N]               a logged-in player's wallet page, balances and health over keep-alive
                                         (run the release build)
  help                                   show this text

configuration: defaults, then the file named by KASA_CONFIG (TOML), then KASA_* variables;
with no DATABASE_URL an embedded Postgres cluster is started under KASA_DATA_DIR.";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    Migrate,
    DbStart,
    DbStop,
    DbUrl,
    IntegrityCheck {
        tenant: Option<String>,
    },
    RebuildBalances {
        tenant: Option<String>,
        dry_run: bool,
    },
    BenchLedger {
        seconds: Option<u64>,
    },
    AuditVerify {
        tenant: Option<String>,
    },
    AuditCheckpoint,
    Reconcile {
        provider: Option<String>,
        since: Option<String>,
        tenant: Option<String>,
        dry_run: bool,
    },
    BenchAudit {
        seconds: Option<u64>,
    },
    BenchWallet {
        seconds: Option<u64>,
    },
    BenchHttp {
        seconds: Option<u64>,
    },
    Help,
}

/// Parses the arguments after the program name; returns a message for the user on error.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut rest = args.iter().map(String::as_str);
    let command = rest.next().unwrap_or("serve");
    let mut tenant = None;
    let mut dry_run = false;
    let mut seconds = None;
    let mut provider = None;
    let mut since = None;
    let mut positional = Vec::new();
    while let Some(arg) = rest.next() {
        match arg {
            "--tenant" => {
                tenant = Some(
                    rest.next()
                        .ok_or("--tenant needs a tenant slug")?
                        .to_owned(),
                )
            }
            "--dry-run" => dry_run = true,
            "--provider" => {
                provider = Some(
                    rest.next()
                        .ok_or("--provider needs a provider name")?
                        .to_owned(),
                )
            }
            "--since" => {
                since = Some(
                    rest.next()
                        .ok_or("--since needs a day or a time")?
                        .to_owned(),
                )
            }
            "--seconds" => {
                let value = rest.next().ok_or("--seconds needs a number")?;
                seconds = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--seconds: not a number: {value}"))?,
                );
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => positional.push(other),
        }
    }
    let parsed = match (command, positional.as_slice()) {
        ("serve", []) => Command::Serve,
        ("migrate", []) => Command::Migrate,
        ("db", ["start"]) => Command::DbStart,
        ("db", ["stop"]) => Command::DbStop,
        ("db", ["url"]) => Command::DbUrl,
        ("integrity-check", []) => Command::IntegrityCheck { tenant },
        ("rebuild-balances", []) => Command::RebuildBalances { tenant, dry_run },
        ("bench", ["ledger"]) => Command::BenchLedger { seconds },
        ("audit-verify", []) => Command::AuditVerify { tenant },
        ("audit-checkpoint", []) => Command::AuditCheckpoint,
        ("reconcile", []) => Command::Reconcile {
            provider,
            since,
            tenant,
            dry_run,
        },
        ("bench", ["audit"]) => Command::BenchAudit { seconds },
        ("bench", ["wallet"]) => Command::BenchWallet { seconds },
        ("bench", ["http"]) => Command::BenchHttp { seconds },
        ("help" | "--help" | "-h", _) => Command::Help,
        _ => return Err(format!("unknown command: {}", args.join(" "))),
    };
    Ok(parsed)
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(command) => command,
        Err(message) => {
            eprintln!("kasa: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("kasa: configuration error: {error:#}");
            return ExitCode::from(2);
        }
    };
    crate::http::init_tracing(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the Tokio runtime starts");
    match runtime.block_on(run(command, config)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kasa: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    use crate::db::Database;
    match command {
        Command::Serve => crate::http::serve(config).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate => {
            crate::db::migrate_only(&config).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::DbStart => {
            let url = crate::db::embedded::start_detached(&config).await?;
            println!("{url}");
            Ok(ExitCode::SUCCESS)
        }
        Command::DbStop => {
            crate::db::embedded::stop(&config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DbUrl => {
            println!("{}", crate::db::embedded::url_for(&config));
            Ok(ExitCode::SUCCESS)
        }
        Command::IntegrityCheck { tenant } => {
            let db = open_migrated(&config).await?;
            let code = ledger::integrity_check(db.pool(), tenant.as_deref()).await;
            db.close().await;
            code
        }
        Command::RebuildBalances { tenant, dry_run } => {
            let db = open_migrated(&config).await?;
            let code = ledger::rebuild_balances(db.pool(), tenant.as_deref(), dry_run).await;
            db.close().await;
            code
        }
        Command::BenchLedger { seconds } => {
            let db = Database::open(&config).await?;
            let code = crate::ledger::bench::run(&db, &config, seconds).await;
            db.close().await;
            code
        }
        Command::AuditVerify { tenant } => {
            let checkpoints = crate::audit::checkpoint::Checkpoints::from_config(&config)?;
            let db = open_migrated(&config).await?;
            let code =
                audit::verify_command(db.pool(), tenant.as_deref(), Some(&checkpoints)).await;
            db.close().await;
            code
        }
        Command::AuditCheckpoint => {
            let checkpoints = crate::audit::checkpoint::Checkpoints::from_config(&config)?;
            let db = open_migrated(&config).await?;
            let code = audit::checkpoint_command(db.pool(), &checkpoints).await;
            db.close().await;
            code
        }
        Command::Reconcile {
            provider,
            since,
            tenant,
            dry_run,
        } => {
            let db = open_migrated(&config).await?;
            let code = reconcile::command(
                db.pool(),
                std::sync::Arc::new(config),
                provider,
                since.as_deref(),
                tenant.as_deref(),
                dry_run,
            )
            .await;
            db.close().await;
            code
        }
        Command::BenchAudit { seconds } => {
            let db = Database::open(&config).await?;
            let code = crate::audit::bench::run(&db, seconds).await;
            db.close().await;
            code
        }
        Command::BenchWallet { seconds } => {
            let db = Database::open(&config).await?;
            let code = crate::games::bench::run(&db, &config, seconds).await;
            db.close().await;
            code
        }
        Command::BenchHttp { seconds } => {
            let db = Database::open(&config).await?;
            let code = crate::http::bench::run(&db, seconds).await;
            db.close().await;
            code
        }
        Command::Help => Ok(ExitCode::SUCCESS),
    }
}

/// Opens the database for an operator command that reads or repairs Kasa's tables. A database
/// that is not at this binary's schema is refused in words, naming what is missing and what to
/// run, before any query can fail on a missing relation. It is never migrated from here: a check
/// must not change the schema of a database whose application has not been upgraded yet.
async fn open_migrated(config: &Config) -> anyhow::Result<crate::db::Database> {
    let db = crate::db::Database::open(config).await?;
    // The migrations table is the owner's: the application role may not read it.
    let owner = match sqlx::PgPool::connect(db.owner_url()).await {
        Ok(owner) => owner,
        Err(error) => {
            db.close().await;
            return Err(anyhow::Error::new(error).context("connecting as the database owner"));
        }
    };
    let missing = missing_migrations(&owner).await;
    owner.close().await;
    match missing {
        Ok(missing) if missing.is_empty() => Ok(db),
        Ok(missing) => {
            db.close().await;
            Err(anyhow::anyhow!(not_migrated_message(&missing)))
        }
        Err(error) => {
            db.close().await;
            Err(anyhow::Error::new(error).context("reading which migrations are applied"))
        }
    }
}

/// This binary's migrations that the database has not applied, as `(version, description)`.
async fn missing_migrations(pool: &sqlx::PgPool) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let has_table: bool =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    let applied: Vec<i64> = if has_table {
        sqlx::query_scalar("SELECT version FROM public._sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    Ok(crate::db::MIGRATOR
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .filter(|migration| !applied.contains(&migration.version))
        .map(|migration| (migration.version, migration.description.to_string()))
        .collect())
}

fn not_migrated_message(missing: &[(i64, String)]) -> String {
    let total = crate::db::MIGRATOR
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .count();
    let names = missing
        .iter()
        .map(|(version, description)| format!("{version:04} {description}"))
        .collect::<Vec<_>>()
        .join(", ");
    let state = if missing.len() == total {
        format!("this database has not been migrated: none of Kasa's {total} migrations is applied")
    } else {
        format!(
            "this database has not been migrated to this version of Kasa: {} of {total} migrations applied, missing {names}",
            total - missing.len()
        )
    };
    format!(
        "{state}. Nothing was checked or changed. Run `kasa migrate` (or start `kasa serve`, which migrates) and try again."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    // Proves the operator's command lines parse to the intended commands, and typos are refused.
    #[test]
    fn parses_operator_commands() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(
            parse(&args("rebuild-balances --tenant demo --dry-run")),
            Ok(Command::RebuildBalances {
                tenant: Some("demo".into()),
                dry_run: true
            })
        );
        assert_eq!(
            parse(&args("integrity-check")),
            Ok(Command::IntegrityCheck { tenant: None })
        );
        assert_eq!(
            parse(&args("bench ledger --seconds 5")),
            Ok(Command::BenchLedger { seconds: Some(5) })
        );
        assert_eq!(
            parse(&args("bench wallet --seconds 20")),
            Ok(Command::BenchWallet { seconds: Some(20) })
        );
        assert_eq!(
            parse(&args("audit-verify --tenant demo")),
            Ok(Command::AuditVerify {
                tenant: Some("demo".into())
            })
        );
        assert_eq!(
            parse(&args(
                "reconcile --provider mock --since 2025-01-01 --dry-run"
            )),
            Ok(Command::Reconcile {
                provider: Some("mock".into()),
                since: Some("2025-01-01".into()),
                tenant: None,
                dry_run: true
            })
        );
        assert_eq!(
            parse(&args("audit-checkpoint")),
            Ok(Command::AuditCheckpoint)
        );
        assert!(parse(&args("rebuild-balances --dryrun")).is_err());
        assert!(parse(&args("migrate now")).is_err());
    }
}
