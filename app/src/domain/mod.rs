//! Domain types shared by the browser and the server: values that can only be built valid and
//! states decoded once, with no Leptos imports, so both targets compile them.

pub mod reconciliation;
