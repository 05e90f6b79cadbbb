//! Reconciliation: what each PSP says about money (the mock PSP's own books; Stripe's checkout
//! sessions read through its API) compared with our deposits, payout attempts and ledger
//! journals. Each difference is a finding, unique per `(provider, reference, kind)`, so a re-run
//! refreshes what it finds again and never duplicates it. Staff resolve findings with a note; where
//! the money is wrong, resolving applies the PSP's word through the payments path (which posts
//! the journal) or posts a correcting adjustment, in the same transaction as the resolution.
//!
//! Kinds (the PSP's reference is the checkout or payout id; ours when the PSP has none):
//! - `missing_in_ledger`: the PSP took or paid money that no journal records (high);
//! - `missing_at_psp`: we have a checkout or payout the PSP does not know (high when money
//!   moved in our ledger, else low);
//! - `amount_mismatch`: the PSP's amount differs from ours, or from what the ledger moved (high);
//! - `status_mismatch`: the states disagree; high when our ledger moved money the PSP says did
//!   not move, else low (typically a webhook that never arrived).
//!
//! One file per step: `sources` reads both sides, `compare` holds the rules, `run` stores a
//! run's findings, `findings` is the page and its run button, `resolve` and `corrections` settle
//! a finding.

pub mod compare;
pub mod corrections;
pub mod findings;
pub mod resolve;
pub mod run;
pub mod sources;
