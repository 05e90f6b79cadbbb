//! A private PostgreSQL cluster run from the system's binaries, for installs without a
//! `DATABASE_URL`. It lives under the configured data directory, listens on a Unix socket in that
//! directory only (no TCP port), and is stopped on exit by the process that started it.
//!
//! It has the two roles of "Database roles" in the README: `kasa_owner`, which owns the database
//! and runs the migrations, and `kasa_app`, the server's login. The superuser `postgres` is left
//! for the operator (`kasa db start` prints its URL, which the tests use to create databases).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::config::Config;

const DATABASE_NAME: &str = "kasa";
/// Owns the database and its objects; migrations and benchmarks connect as it.
pub const OWNER_ROLE: &str = "kasa_owner";
/// The socket file is named after the port, so any number works; this one is conventional.
const SOCKET_PORT: u16 = 5432;
/// Room for the benchmark's clients plus tests that open many pools at once.
const CONNECTIONS_MAX: u32 = 300;

pub struct Cluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    started_here: bool,
}

impl Cluster {
    /// Initialises the cluster if needed, starts it unless it already runs, and creates the
    /// application database.
    pub async fn start(config: &Config) -> anyhow::Result<Cluster> {
        let data_dir = absolute(&config.data_dir)?;
        let bin_dir = find_bin_dir()?;
        let cluster = Cluster {
            data_dir,
            bin_dir,
            started_here: false,
        };
        cluster.prepare_directories().await?;
        if !cluster.pgdata().join("PG_VERSION").exists() {
            tracing::info!(dir = %cluster.pgdata().display(), "initialising the embedded Postgres cluster");
            cluster
                .pg_tool(
                    "initdb",
                    &[
                        "-D",
                        &cluster.pgdata_str(),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ],
                )
                .await?;
        }
        let mut cluster = cluster;
        if !cluster.is_running().await {
            let mut options = format!(
                "-k {socket} -c listen_addresses= -p {SOCKET_PORT} -c max_connections={CONNECTIONS_MAX} -c shared_buffers=256MB",
                socket = cluster.socket_dir().display()
            );
            if config.embedded_fast {
                options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
            }
            let log = cluster.data_dir.join("postgres.log");
            cluster
                .pg_tool(
                    "pg_ctl",
                    &[
                        "-D",
                        &cluster.pgdata_str(),
                        "-l",
                        &log.to_string_lossy(),
                        "-o",
                        &options,
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ],
                )
                .await
                .with_context(|| format!("starting Postgres (log: {})", log.display()))?;
            cluster.started_here = true;
            tracing::info!(socket = %cluster.socket_dir().display(), "embedded Postgres started");
        }
        cluster.ensure_database().await?;
        Ok(cluster)
    }

    /// The superuser's URL of the application database (what `kasa db start` prints).
    pub fn url(&self) -> String {
        url_in(&self.data_dir)
    }

    /// The URL of the application database as `role` (trust authentication on the socket).
    pub fn url_as(&self, role: &str) -> String {
        url_in(&self.data_dir).replacen("postgres://postgres@", &format!("postgres://{role}@"), 1)
    }

    /// Stops the cluster if this process started it; a cluster we merely reused keeps running
    /// for whoever started it.
    pub async fn stop_if_started(self) {
        if self.started_here
            && let Err(error) = self.stop().await
        {
            tracing::warn!(%error, "stopping the embedded Postgres failed");
        }
    }

    async fn stop(&self) -> anyhow::Result<()> {
        if self.is_running().await {
            self.pg_tool(
                "pg_ctl",
                &["-D", &self.pgdata_str(), "-m", "fast", "-w", "stop"],
            )
            .await?;
            tracing::info!("embedded Postgres stopped");
        }
        Ok(())
    }

    fn pgdata(&self) -> PathBuf {
        self.data_dir.join("cluster")
    }

    fn pgdata_str(&self) -> String {
        self.pgdata().to_string_lossy().into_owned()
    }

    fn socket_dir(&self) -> PathBuf {
        self.data_dir.join("socket")
    }

    async fn is_running(&self) -> bool {
        self.pgdata().join("PG_VERSION").exists()
            && self
                .pg_tool("pg_ctl", &["-D", &self.pgdata_str(), "status"])
                .await
                .is_ok()
    }

    async fn prepare_directories(&self) -> anyhow::Result<()> {
        for dir in [&self.data_dir, &self.socket_dir()] {
            tokio::fs::create_dir_all(dir)
                .await
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        if is_root() {
            // Postgres refuses to run as root, so its files belong to the postgres system user.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&self.data_dir)
                .status()
                .await
                .context("running chown")?;
            if !status.success() {
                bail!(
                    "could not hand {} to the postgres user",
                    self.data_dir.display()
                );
            }
        }
        Ok(())
    }

    /// Creates the owner and application roles and the database (owned by the owner role).
    /// A database made before the roles existed is handed to the owner role with its objects.
    async fn ensure_database(&self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let admin_url = format!(
            "postgres://postgres@localhost/postgres?host={}&port={SOCKET_PORT}",
            self.socket_dir().display()
        );
        let mut connection = sqlx::PgConnection::connect(&admin_url)
            .await
            .context("connecting to the embedded Postgres")?;
        // The owner may create databases: the benchmarks' scratch databases.
        for (role, attributes) in [(OWNER_ROLE, "LOGIN CREATEDB"), (super::APP_ROLE, "LOGIN")] {
            let sql = ENSURE_ROLE_SQL
                .replace("{role}", role)
                .replace("{attributes}", attributes);
            sqlx::query(&sql)
                .execute(&mut connection)
                .await
                .with_context(|| format!("creating the database role {role}"))?;
        }
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
        )
        .bind(DATABASE_NAME)
        .fetch_optional(&mut connection)
        .await?;
        match owner.as_deref() {
            None => {
                sqlx::query(&format!(
                    "CREATE DATABASE {DATABASE_NAME} OWNER {OWNER_ROLE}"
                ))
                .execute(&mut connection)
                .await?;
            }
            Some(OWNER_ROLE) => {}
            Some(_) => {
                sqlx::query(&format!(
                    "ALTER DATABASE {DATABASE_NAME} OWNER TO {OWNER_ROLE}"
                ))
                .execute(&mut connection)
                .await?;
                connection.close().await?;
                let mut database = sqlx::PgConnection::connect(&self.url()).await?;
                sqlx::query(&ADOPT_OBJECTS_SQL.replace("{owner}", OWNER_ROLE))
                    .execute(&mut database)
                    .await
                    .context("handing the database's objects to the owner role")?;
                tracing::info!(
                    owner = OWNER_ROLE,
                    "the embedded database now belongs to its owner role"
                );
                database.close().await?;
                return Ok(());
            }
        }
        connection.close().await?;
        Ok(())
    }

    /// Runs a Postgres server tool, as the postgres user when we are root.
    async fn pg_tool(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin_dir.join(tool);
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }
}

/// Creates a role if missing, with LOGIN (a migration may have made it without); the block
/// tolerates a concurrent creator. Neither role is a superuser.
const ENSURE_ROLE_SQL: &str = "
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        CREATE ROLE {role} {attributes};
    ELSIF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}') THEN
        ALTER ROLE {role} LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$";

/// Gives every object of the schema to the owner role: for a database migrated as the superuser
/// before the roles existed. Sequences that belong to a table move with it.
const ADOPT_OBJECTS_SQL: &str = "
DO $$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
           AND c.relowner <> '{owner}'::regrole
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                            AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format(CASE object.relkind WHEN 'v' THEN 'ALTER VIEW %s OWNER TO {owner}'
                                           WHEN 'm' THEN 'ALTER MATERIALIZED VIEW %s OWNER TO {owner}'
                                           WHEN 'S' THEN 'ALTER SEQUENCE %s OWNER TO {owner}'
                                           ELSE 'ALTER TABLE %s OWNER TO {owner}' END, object.name);
    END LOOP;
    FOR object IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> '{owner}'::regrole
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO {owner}', object.name);
    END LOOP;
    FOR object IN
        SELECT t.oid::regtype AS name FROM pg_type t
         WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'd'
           AND t.typowner <> '{owner}'::regrole
    LOOP
        EXECUTE format('ALTER DOMAIN %s OWNER TO {owner}', object.name);
    END LOOP;
END $$";

/// Starts the cluster for other processes (`kasa db start`) and leaves it running.
pub async fn start_detached(config: &Config) -> anyhow::Result<String> {
    let cluster = Cluster::start(config).await?;
    Ok(cluster.url())
}

/// Stops the cluster under the configured data directory (`kasa db stop`).
pub async fn stop(config: &Config) -> anyhow::Result<()> {
    let cluster = Cluster {
        data_dir: absolute(&config.data_dir)?,
        bin_dir: find_bin_dir()?,
        started_here: true,
    };
    cluster.stop().await
}

/// The URL of the embedded database under the configured data directory.
pub fn url_for(config: &Config) -> String {
    url_in(&absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone()))
}

fn url_in(data_dir: &Path) -> String {
    format!(
        "postgres://postgres@localhost/{DATABASE_NAME}?host={}&port={SOCKET_PORT}",
        data_dir.join("socket").display()
    )
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// Whether this process runs as root (read from /proc, so no unsafe libc call is needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// The newest installed PostgreSQL server binaries.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    match candidates.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server binaries under /usr/lib/postgresql: run scripts/setup (it installs Debian's postgresql package)"
        ),
    }
}
