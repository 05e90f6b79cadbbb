//! Staff two-factor log-in (TOTP, RFC 6238): setting up an authenticator app, the recovery codes
//! that stand in for a lost device, an owner's reset, and the tenant's rule that finance and
//! owner staff must have one. The log-in itself is `auth::staff_log_in` with its `code` field.
//!
//! Every function here is called either with a staff session or, during a log-in that must set
//! up a second factor first, with the enrolment ticket cookie that log-in handed out (which
//! admits to `start_enrolment` and `confirm_enrolment` only).

pub mod api;
pub mod pages;

use crate::domain::ids::StaffId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::StaffRole;

/// The roles the tenant's rule covers: those that move money or change policies and staff.
pub fn role_needs_second_factor(role: StaffRole) -> bool {
    role >= StaffRole::Finance
}

/// An enrolment in progress: what the authenticator app needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentStart {
    /// The `otpauth://` URI as a QR code, an SVG drawn by the server (only paths and numbers).
    pub qr_svg: String,
    /// The secret in base32, in groups of four, for typing into the app by hand.
    pub secret: String,
    /// The URI itself, for authenticator apps on the same device.
    pub otpauth_uri: String,
}

/// A confirmed enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentDone {
    /// Shown this once; the server keeps only their hashes.
    pub recovery_codes: Vec<String>,
    /// True when this confirmation finished a log-in (an enrolment ticket): a session started.
    pub logged_in: bool,
}

/// The logged-in staff member's second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorStatus {
    /// When the authenticator was confirmed; `None`: no second factor.
    pub enrolled_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: i64,
    /// Whether the tenant's rule (in force here) requires one for this staff member's role.
    pub required: bool,
}

/// One staff member's second factor, as an owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffSecondFactor {
    pub staff_id: StaffId,
    pub email: String,
    pub display_name: String,
    pub role: StaffRole,
    pub enrolled_at: Option<DateTime<Utc>>,
    /// The owner looking at the list (who cannot reset their own).
    pub is_viewer: bool,
}

/// The tenant's rule for finance and owner staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorPolicy {
    /// The tenant's setting (on unless an owner turned it off).
    pub required: bool,
    /// Whether this installation applies the setting (always in production;
    /// elsewhere with `KASA_STAFF_SECOND_FACTOR=required`).
    pub in_force: bool,
    /// Whether the viewer may change it (owners).
    pub editable: bool,
}
