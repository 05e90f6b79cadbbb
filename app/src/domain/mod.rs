//! The domain: plain Rust values that carry Kasa's rules: money, typed ids, the withdrawal state
//! machine with its one transition table, and the states of reconciliation findings, credit
//! requests and webhook events, decoded once. Nothing here imports Leptos or does I/O, so the
//! same types compile for the browser and the server, and a form can be checked before it is
//! sent.

pub mod ids;
pub mod money;
pub mod reconciliation;
pub mod text;
pub mod withdrawal;
