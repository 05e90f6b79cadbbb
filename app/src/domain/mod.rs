//! The rules of Kasa's money, as plain Rust: no Leptos, no I/O. The browser and the server
//! compile the same types, so a state the server stores and a button the page shows come from
//! one place.

pub mod ids;
pub mod withdrawal;
