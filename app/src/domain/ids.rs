//! Typed ids: a withdrawal's id cannot be passed where an attempt's is expected, nor a player's
//! where a tenant's is. Each is a UUID on the wire (`#[serde(transparent)]`) and in the database
//! (`#[sqlx(transparent)]` on the server: bound and decoded as the id itself), and prints and
//! parses as one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! ids {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub Uuid);

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> $name {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<$name, uuid::Error> {
                Uuid::parse_str(text).map($name)
            }
        }
    )*};
}

ids! {
    /// A tenant: one brand, with its own players, staff and books.
    TenantId;
    /// A player of one tenant.
    PlayerId;
    /// A staff member of one tenant.
    StaffId;
    /// A player's deposit.
    DepositId;
    /// A player's withdrawal.
    WithdrawalId;
    /// One try to pay a withdrawal out at a PSP (or by hand).
    AttemptId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_plain_uuid_on_the_wire_and_in_text() {
        let uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let id = WithdrawalId::from(uuid);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{uuid}\""));
        assert_eq!(serde_json::from_str::<WithdrawalId>(&json).unwrap(), id);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(id.to_string().parse::<WithdrawalId>().unwrap(), id);
        assert_eq!(Uuid::from(id), uuid);
        assert!("not-an-id".parse::<AttemptId>().is_err());
    }
}
