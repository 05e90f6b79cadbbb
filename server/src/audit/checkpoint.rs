//! Signed checkpoints of the audit chain heads, kept outside the database. The hash chain shows
//! an edited or removed event, but not a removed tail whose head was patched back: the shorter
//! chain is just as consistent. So the heads are written, now and then, to an append-only file
//! as JSON lines, each signed with HMAC-SHA256 under a key that is not in the database, and
//! verification checks each chain against its latest valid checkpoint: a chain that ends before
//! the checkpointed event, or holds another event there, is broken.
//!
//! One line: `{"tenant_id","seq","hash","at","signature"}`; `hash` and `signature` are lower-case
//! hex, `at` is `YYYY-MM-DDTHH:MM:SS.ffffffZ`, and the signature covers
//! `kasa-audit-checkpoint/1\n{tenant_id}\n{seq}\n{hash}\n{at}`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use app::domain::ids::TenantId;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::{Config, Environment};

/// The key file generated outside production, in the data directory.
const KEY_FILE_NAME: &str = "audit-checkpoint.key";
const CHECKPOINT_FILE_NAME: &str = "audit-checkpoints.jsonl";
const KEY_BYTES: usize = 32;
const SIGNATURE_DOMAIN: &str = "kasa-audit-checkpoint/1";
/// A checkpoint file larger than this is refused rather than read into memory (about 5 million
/// lines: years of one checkpoint a minute for a handful of busy tenants).
const CHECKPOINT_FILE_BYTES_MAX: u64 = 1 << 30;

/// Where checkpoints go and the key that signs them.
pub struct Checkpoints {
    path: PathBuf,
    key: SecretSlice<u8>,
}

/// One line of the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub hash: String,
    pub at: String,
    pub signature: String,
}

/// The latest validly signed checkpoint of a tenant, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointedHead {
    pub seq: i64,
    pub hash: [u8; 32],
    pub at: DateTime<Utc>,
}

/// A line of the checkpoint file that is not a validly signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidCheckpoint {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// What the checkpoint file says, read once before the chains are verified.
#[derive(Debug, Clone, Default)]
pub struct CheckpointLog {
    pub path: PathBuf,
    /// Per tenant, the valid checkpoint with the highest `seq` (an older line appended again
    /// cannot lower it).
    pub latest: HashMap<TenantId, CheckpointedHead>,
    pub invalid: Vec<InvalidCheckpoint>,
    pub lines: usize,
}

/// A brand's chain head as stored: its last event's sequence number and hash.
#[derive(sqlx::FromRow)]
struct StoredHead {
    tenant_id: TenantId,
    last_seq: i64,
    last_hash: Vec<u8>,
}

impl Checkpoints {
    /// From the configuration: `audit_checkpoint_key`, or outside production a key generated
    /// once into `data_dir/audit-checkpoint.key`; `audit_checkpoint_path`, or
    /// `data_dir/audit-checkpoints.jsonl`.
    pub fn from_config(config: &Config) -> anyhow::Result<Checkpoints> {
        let path = config
            .audit_checkpoint_path
            .clone()
            .unwrap_or_else(|| config.data_dir.join(CHECKPOINT_FILE_NAME));
        let key = match &config.audit_checkpoint_key {
            Some(key) => key.expose_secret().as_bytes().to_vec(),
            None if config.environment == Environment::Production => {
                bail!("production needs KASA_AUDIT_CHECKPOINT_KEY")
            }
            None => installation_key(&config.data_dir.join(KEY_FILE_NAME))?,
        };
        Ok(Checkpoints::new(path, &key))
    }

    pub fn new(path: PathBuf, key: &[u8]) -> Checkpoints {
        Checkpoints {
            path,
            key: SecretSlice::from(key.to_vec()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn signature(&self, tenant_id: TenantId, seq: i64, hash: &str, at: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .expect("HMAC accepts a key of any length");
        mac.update(format!("{SIGNATURE_DOMAIN}\n{tenant_id}\n{seq}\n{hash}\n{at}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Signs the head of each chain that moved past its latest checkpoint and appends those
    /// checkpoints to the file, in one write. Returns how many were written.
    pub async fn write(&self, pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let log = self.read()?;
        let heads: Vec<StoredHead> = sqlx::query_as(
            "SELECT tenant_id, last_seq, last_hash FROM audit_chain_heads WHERE last_seq > 0 ORDER BY tenant_id",
        )
        .fetch_all(pool)
        .await
        .context("reading the audit chain heads")?;
        let at = now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let mut text = String::new();
        let mut written = 0;
        for StoredHead {
            tenant_id,
            last_seq: seq,
            last_hash: hash,
        } in heads
        {
            if let Some(latest) = log.latest.get(&tenant_id) {
                if seq < latest.seq {
                    // A shorter chain than the checkpoint's is a break that verification
                    // reports; signing it would only muddy the file.
                    tracing::warn!(%tenant_id, seq, checkpointed_seq = latest.seq, "the audit chain head is behind its last checkpoint");
                }
                if seq <= latest.seq {
                    continue;
                }
            }
            let hash = hex::encode(hash);
            let signature = hex::encode(self.signature(tenant_id, seq, &hash, &at));
            let line = Checkpoint {
                tenant_id,
                seq,
                hash,
                at: at.clone(),
                signature,
            };
            text.push_str(&serde_json::to_string(&line)?);
            text.push('\n');
            written += 1;
        }
        if written > 0 {
            self.append(text.as_bytes())?;
        }
        Ok(written)
    }

    /// Appends whole lines in one `write` on a file opened for appending (so that two writers
    /// never interleave within a line), then syncs it.
    fn append(&self, bytes: &[u8]) -> anyhow::Result<()> {
        if let Some(parent) = self
            .path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("appending to {}", self.path.display()))
    }

    /// Reads and checks every line; a missing file is an empty log.
    pub fn read(&self) -> anyhow::Result<CheckpointLog> {
        let mut log = CheckpointLog {
            path: self.path.clone(),
            ..CheckpointLog::default()
        };
        let text = match std::fs::metadata(&self.path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(log),
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", self.path.display()));
            }
            Ok(metadata) if metadata.len() > CHECKPOINT_FILE_BYTES_MAX => {
                bail!("{} is larger than 1 GiB", self.path.display())
            }
            Ok(_) => std::fs::read_to_string(&self.path)
                .with_context(|| format!("reading {}", self.path.display()))?,
        };
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            log.lines += 1;
            match self.check_line(line) {
                Ok((tenant_id, head)) => {
                    let latest = log.latest.entry(tenant_id).or_insert(head);
                    if head.seq > latest.seq {
                        *latest = head;
                    }
                }
                Err(reason) => log.invalid.push(InvalidCheckpoint {
                    line: index + 1,
                    reason,
                }),
            }
        }
        Ok(log)
    }

    fn check_line(&self, line: &str) -> Result<(TenantId, CheckpointedHead), String> {
        let checkpoint: Checkpoint =
            serde_json::from_str(line).map_err(|error| format!("not a checkpoint: {error}"))?;
        let signature = hex::decode(&checkpoint.signature)
            .map_err(|_| "the signature is not hex".to_owned())?;
        let expected = self.signature(
            checkpoint.tenant_id,
            checkpoint.seq,
            &checkpoint.hash,
            &checkpoint.at,
        );
        // Constant-time, although the verifier is no oracle anyone can query.
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&signature[..], &expected[..])) {
            return Err(format!(
                "the signature does not match (tenant {}, event {})",
                checkpoint.tenant_id, checkpoint.seq
            ));
        }
        let hash: [u8; 32] = hex::decode(&checkpoint.hash)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| "the hash is not 32 bytes of hex".to_owned())?;
        let at = DateTime::parse_from_rfc3339(&checkpoint.at)
            .map_err(|_| "the time is not RFC 3339".to_owned())?
            .with_timezone(&Utc);
        Ok((
            checkpoint.tenant_id,
            CheckpointedHead {
                seq: checkpoint.seq,
                hash,
                at,
            },
        ))
    }
}

/// The per-installation key outside production: read from `path`, or generated there once
/// (written to a temporary file and linked into place, so concurrent starts agree on one key).
fn installation_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    if !path.exists() {
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let temporary = parent.join(format!(".{KEY_FILE_NAME}.{}", Uuid::new_v4().simple()));
        let key = hex::encode(rand::random::<[u8; KEY_BYTES]>());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&temporary)
            .and_then(|mut file| {
                file.write_all(key.as_bytes())
                    .and_then(|()| file.sync_all())
            })
            .with_context(|| format!("writing {}", temporary.display()))?;
        let linked = std::fs::hard_link(&temporary, path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => tracing::info!(path = %path.display(), "generated the audit checkpoint key"),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(error).with_context(|| format!("creating {}", path.display()));
            }
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the audit checkpoint key {}", path.display()))?;
    let key = hex::decode(text.trim())
        .ok()
        .filter(|key| key.len() == KEY_BYTES)
        .with_context(|| format!("{} does not hold a key of 32 bytes in hex", path.display()))?;
    Ok(key)
}

/// Writes checkpoints every `interval` (the first at once), in `kasa serve`.
pub fn spawn_checkpointer(
    pool: PgPool,
    checkpoints: Checkpoints,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match checkpoints.write(&pool, Utc::now()).await {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "audit checkpoints written"),
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "writing audit checkpoints failed")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir() -> PathBuf {
        std::env::temp_dir().join(format!("kasa-checkpoint-{}", Uuid::new_v4().simple()))
    }

    // Proves outside production one key is generated into the data directory and reused, and
    // production without a configured key is refused.
    #[test]
    fn the_installation_key_is_generated_once() {
        let dir = scratch_dir();
        let config = Config::from_sources("", |name| {
            (name == "KASA_DATA_DIR").then(|| dir.to_string_lossy().into_owned())
        })
        .unwrap();
        let first = Checkpoints::from_config(&config).unwrap();
        let second = Checkpoints::from_config(&config).unwrap();
        assert_eq!(first.key.expose_secret().len(), KEY_BYTES, "a 32-byte key");
        assert_eq!(first.key.expose_secret(), second.key.expose_secret());
        assert_eq!(first.path(), dir.join(CHECKPOINT_FILE_NAME));
        let mut production = config.clone();
        production.environment = Environment::Production;
        assert!(Checkpoints::from_config(&production).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // Proves a line verifies only under the key that signed it and only as written.
    #[test]
    fn a_line_verifies_only_unchanged_and_under_its_key() {
        let checkpoints = Checkpoints::new(PathBuf::from("unused"), b"key one");
        let tenant_id = TenantId(Uuid::from_u128(7));
        let hash = hex::encode([3u8; 32]);
        let at = "2026-01-02T03:04:05.000006Z";
        let line = serde_json::to_string(&Checkpoint {
            tenant_id,
            seq: 5,
            hash: hash.clone(),
            at: at.into(),
            signature: hex::encode(checkpoints.signature(tenant_id, 5, &hash, at)),
        })
        .unwrap();
        let (tenant, head) = checkpoints.check_line(&line).unwrap();
        assert_eq!((tenant, head.seq, head.hash), (tenant_id, 5, [3u8; 32]));
        let raised = line.replace("\"seq\":5", "\"seq\":6");
        assert!(checkpoints.check_line(&raised).is_err());
        let other_key = Checkpoints::new(PathBuf::from("unused"), b"key two");
        assert!(other_key.check_line(&line).is_err());
    }
}
