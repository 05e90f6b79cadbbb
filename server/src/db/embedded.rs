//! A private PostgreSQL cluster run from the system's binaries, for installs without a
//! `DATABASE_URL`. It lives under the configured data directory, listens on a Unix socket in that
//! directory only (no TCP port), and is stopped on exit by the process that started it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::config::Config;

const DATABASE_NAME: &str = "kasa";
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

    pub fn url(&self) -> String {
        url_in(&self.data_dir)
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

    async fn ensure_database(&self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let admin_url = format!(
            "postgres://postgres@localhost/postgres?host={}&port={SOCKET_PORT}",
            self.socket_dir().display()
        );
        let mut connection = sqlx::PgConnection::connect(&admin_url)
            .await
            .context("connecting to the embedded Postgres")?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE_NAME)
                .fetch_one(&mut connection)
                .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE_NAME}"))
                .execute(&mut connection)
                .await?;
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
