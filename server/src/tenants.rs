//! Tenants (casino brands) and how a request finds its tenant: from its host name, through the
//! configured mapping, with a default tenant for single-brand installs.

use std::collections::HashMap;
use std::sync::Arc;

use app::domain::ids::TenantId;
use sqlx::PgPool;
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
}

/// Resolves host names to tenants, caching the tenants table (brands are rarely added).
#[derive(Clone)]
pub struct TenantResolver {
    pool: PgPool,
    host_to_slug: Arc<HashMap<String, String>>,
    default_slug: Option<String>,
    by_slug: Arc<RwLock<HashMap<String, Tenant>>>,
}

impl TenantResolver {
    pub fn new(pool: PgPool, config: &Config) -> TenantResolver {
        TenantResolver {
            pool,
            host_to_slug: Arc::new(
                config
                    .tenant_hosts
                    .iter()
                    .map(|(host, slug)| (host.clone(), slug.clone()))
                    .collect(),
            ),
            default_slug: config.default_tenant.clone(),
            by_slug: Arc::default(),
        }
    }

    /// The tenant serving a `Host` header value, if any.
    pub async fn for_host(&self, host: &str) -> Result<Option<Tenant>, sqlx::Error> {
        let name = host_name(host);
        let slug = match self.host_to_slug.get(&name).or(self.default_slug.as_ref()) {
            Some(slug) => slug,
            None => return Ok(None),
        };
        self.by_slug(slug).await
    }

    pub async fn by_slug(&self, slug: &str) -> Result<Option<Tenant>, sqlx::Error> {
        if let Some(tenant) = self.by_slug.read().await.get(slug) {
            return Ok(Some(tenant.clone()));
        }
        let tenant = find_by_slug(&self.pool, slug).await?;
        if let Some(tenant) = &tenant {
            self.by_slug
                .write()
                .await
                .insert(slug.to_owned(), tenant.clone());
        }
        Ok(tenant)
    }
}

pub async fn find_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as("SELECT id, slug, name FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await
}

/// Creates a tenant unless one with this slug exists; returns it either way.
pub async fn ensure(pool: &PgPool, slug: &str, name: &str) -> Result<Tenant, sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(slug)
    .bind(name)
    .execute(pool)
    .await?;
    find_by_slug(pool, slug)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

/// The host name of a `Host` header: lower case, without the port.
fn host_name(host: &str) -> String {
    let host = host.trim().to_lowercase();
    if host.starts_with('[') {
        // An IPv6 literal: keep the brackets' content.
        return host
            .split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
            .to_owned();
    }
    host.rsplit_once(':').map_or(host.clone(), |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name.to_owned()
        } else {
            host.clone()
        }
    })
}

#[cfg(test)]
mod tests {
    // Proves host headers map to the same name with or without a port, in any case.
    #[test]
    fn host_names_drop_the_port() {
        assert_eq!(
            super::host_name("Second.Localhost:3000"),
            "second.localhost"
        );
        assert_eq!(super::host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(super::host_name("[::1]:3000"), "::1");
    }
}
