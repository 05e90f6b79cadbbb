//! Kasa's server side: everything that needs Postgres, a PSP or a clock. The browser-facing
//! pages and server functions live in the `app` crate and reach this crate through the service
//! traits it defines (`app::auth::AuthApi`, …), which `services` implements.

pub mod audit;
pub mod auth;
pub mod backoffice;
pub mod cli;
pub mod client_address;
pub mod config;
pub mod db;
pub mod deposits;
pub mod error;
pub mod games;
pub mod http;
pub mod ledger;
pub mod protection;
pub mod psp;
pub mod seed;
pub mod services;
pub mod tenants;
pub mod wallet;
pub mod withdrawals;
