//! Money as the rest of Kasa sees it: a currency with its ISO 4217 minor unit, a positive
//! `Money` amount that can only be built valid, and a `SignedMoney` for balances and ledger
//! movements. Compiled for the browser and the server alike, so it uses no floats and no I/O.
//! Reading and writing amounts as text (and as JSON) is in `parse`.

mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use parse::parse_plain_decimal;

/// The largest amount, in major units (euros, yen, ...), that `Money::new` and `Money::parse`
/// accept. It is a sanity bound, far above any single casino payment, that keeps every amount
/// and every balance sum well inside `i64` minor units. Policies pass their own, smaller maximum
/// to the `*_with_max` constructors.
pub const AMOUNT_MAX_MAJOR: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// Everything that can be wrong with an amount or a currency. Each variant has a stable
/// machine code (`code()`) that clients can rely on; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum MoneyError {
    #[error("the amount is not a plain decimal number: {text:?}")]
    Malformed { text: String },
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("{currency} amounts have at most {scale} decimal places")]
    TooPrecise { currency: Currency, scale: u32 },
    #[error("the amount is above the maximum of {max} {currency}")]
    AboveMaximum { max: Decimal, currency: Currency },
    #[error("the amount is out of range")]
    OutOfRange,
    #[error("unknown currency: {code:?}")]
    UnknownCurrency { code: String },
    #[error("currency mismatch: expected {expected}, found {found}")]
    CurrencyMismatch { expected: Currency, found: Currency },
}

impl MoneyError {
    /// The stable machine code of this error, as documented in the error table.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::Malformed { .. }
            | MoneyError::NotPositive
            | MoneyError::TooPrecise { .. }
            | MoneyError::AboveMaximum { .. }
            | MoneyError::OutOfRange => "invalid_amount",
            MoneyError::UnknownCurrency { .. } => "unknown_currency",
            MoneyError::CurrencyMismatch { .. } => "currency_mismatch",
        }
    }
}

/// A currency Kasa can hold, with its ISO 4217 code and minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Currency {
    Eur,
    Usd,
    Gbp,
    Try,
    Jpy,
    Chf,
    Cad,
    Aud,
    Sek,
    Nok,
    Dkk,
    Pln,
    Brl,
    Krw,
}

impl Currency {
    /// Every supported currency, in a stable order.
    pub const ALL: [Currency; 14] = [
        Currency::Eur,
        Currency::Usd,
        Currency::Gbp,
        Currency::Try,
        Currency::Jpy,
        Currency::Chf,
        Currency::Cad,
        Currency::Aud,
        Currency::Sek,
        Currency::Nok,
        Currency::Dkk,
        Currency::Pln,
        Currency::Brl,
        Currency::Krw,
    ];

    /// The ISO 4217 alphabetic code, upper case ("EUR").
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
            Currency::Try => "TRY",
            Currency::Jpy => "JPY",
            Currency::Chf => "CHF",
            Currency::Cad => "CAD",
            Currency::Aud => "AUD",
            Currency::Sek => "SEK",
            Currency::Nok => "NOK",
            Currency::Dkk => "DKK",
            Currency::Pln => "PLN",
            Currency::Brl => "BRL",
            Currency::Krw => "KRW",
        }
    }

    /// The number of decimal places of the currency's minor unit (EUR 2, JPY 0).
    pub const fn minor_unit_scale(self) -> u32 {
        match self {
            Currency::Jpy | Currency::Krw => 0,
            _ => 2,
        }
    }

    /// How many minor units make one major unit (100 for EUR, 1 for JPY).
    pub const fn minor_units_per_major(self) -> i64 {
        10_i64.pow(self.minor_unit_scale())
    }

    /// Parses an ISO 4217 code; lower case is accepted (PSPs such as Stripe send "eur").
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        Currency::ALL
            .into_iter()
            .find(|currency| currency.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| MoneyError::UnknownCurrency {
                code: code.chars().take(16).collect(),
            })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Currency::parse(code)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// A positive amount of one currency, at most the maximum it was built with, with no more
/// decimal places than the currency's minor unit. The only way to get one is through a
/// validating constructor, so holding a `Money` proves all of that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "parse::MoneyWire", into = "parse::MoneyWire")]
pub struct Money {
    /// Always carries exactly `currency.minor_unit_scale()` decimal places.
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Validates `amount` against the currency and `AMOUNT_MAX_MAJOR`.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        Money::new_with_max(amount, currency, AMOUNT_MAX_MAJOR)
    }

    /// Validates `amount`: greater than zero, at most `max` (in major units), and no finer
    /// than the currency's minor unit. Too many decimals are rejected, never rounded; trailing
    /// zeros ("10.500" EUR) are not extra precision and are accepted.
    pub fn new_with_max(
        amount: Decimal,
        currency: Currency,
        max: Decimal,
    ) -> Result<Money, MoneyError> {
        if amount <= Decimal::ZERO {
            return Err(MoneyError::NotPositive);
        }
        let scale = currency.minor_unit_scale();
        let mut exact = amount.normalize();
        if exact.scale() > scale {
            return Err(MoneyError::TooPrecise { currency, scale });
        }
        if exact > max {
            return Err(MoneyError::AboveMaximum { max, currency });
        }
        // Only ever widens the scale, so this cannot round.
        exact.rescale(scale);
        if i64::try_from(exact.mantissa()).is_err() {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Money {
            amount: exact,
            currency,
        })
    }

    /// Parses a plain decimal ("10", "10.5", "10.50"): digits, optionally a point and more
    /// digits. No sign, exponent, spaces or separators, so nothing is guessed.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        Money::parse_with_max(text, currency, AMOUNT_MAX_MAJOR)
    }

    /// `parse` with a caller-chosen maximum (a policy limit), in major units.
    pub fn parse_with_max(
        text: &str,
        currency: Currency,
        max: Decimal,
    ) -> Result<Money, MoneyError> {
        let amount = parse_plain_decimal(text, false)?;
        Money::new_with_max(amount, currency, max)
    }

    /// Builds from an integer number of minor units (cents, yen), exactly.
    pub fn from_minor_units(minor_units: i64, currency: Currency) -> Result<Money, MoneyError> {
        Money::new(
            Decimal::new(minor_units, currency.minor_unit_scale()),
            currency,
        )
    }

    /// The amount in minor units (cents, yen), exactly.
    pub fn to_minor_units(&self) -> i64 {
        // `new_with_max` checked that the mantissa at the currency's scale fits an i64.
        i64::try_from(self.amount.mantissa()).expect("a valid Money fits i64 minor units")
    }

    /// The amount in major units, with exactly the currency's decimal places.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount alone, with the currency's decimal places ("10.50", "1000" for JPY).
    pub fn format_amount(&self) -> String {
        self.amount.to_string()
    }

    /// Checks that this amount is in `expected`, for callers that combine amounts.
    pub fn require_currency(&self, expected: Currency) -> Result<(), MoneyError> {
        if self.currency == expected {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                expected,
                found: self.currency,
            })
        }
    }
}

/// A signed amount of one currency, kept as exact minor units: a balance (zero allowed, and
/// negative for operator accounts) or a ledger movement seen from one account (credits
/// positive, debits negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "parse::MoneyWire", into = "parse::MoneyWire")]
pub struct SignedMoney {
    minor_units: i64,
    currency: Currency,
}

impl SignedMoney {
    pub const fn zero(currency: Currency) -> SignedMoney {
        SignedMoney {
            minor_units: 0,
            currency,
        }
    }

    pub const fn from_minor_units(minor_units: i64, currency: Currency) -> SignedMoney {
        SignedMoney {
            minor_units,
            currency,
        }
    }

    /// Builds from a decimal amount, rejecting (never rounding) decimals finer than the currency.
    pub fn new(amount: Decimal, currency: Currency) -> Result<SignedMoney, MoneyError> {
        let scale = currency.minor_unit_scale();
        let mut exact = amount.normalize();
        if exact.scale() > scale {
            return Err(MoneyError::TooPrecise { currency, scale });
        }
        exact.rescale(scale);
        let minor_units = i64::try_from(exact.mantissa()).map_err(|_| MoneyError::OutOfRange)?;
        Ok(SignedMoney {
            minor_units,
            currency,
        })
    }

    /// Parses "-10.50", "0", "1000": an optional minus sign, then what `Money::parse` accepts.
    pub fn parse(text: &str, currency: Currency) -> Result<SignedMoney, MoneyError> {
        SignedMoney::new(parse_plain_decimal(text, true)?, currency)
    }

    pub const fn minor_units(&self) -> i64 {
        self.minor_units
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount in major units, with exactly the currency's decimal places.
    pub fn amount(&self) -> Decimal {
        Decimal::new(self.minor_units, self.currency.minor_unit_scale())
    }

    pub const fn is_negative(&self) -> bool {
        self.minor_units < 0
    }

    pub const fn is_zero(&self) -> bool {
        self.minor_units == 0
    }

    /// The positive `Money` of the same size, or `None` for zero.
    pub fn abs(&self) -> Option<Money> {
        let magnitude = self.minor_units.checked_abs()?;
        Money::from_minor_units(magnitude, self.currency).ok()
    }

    /// Adds another signed amount of the same currency.
    pub fn checked_add(&self, other: SignedMoney) -> Result<SignedMoney, MoneyError> {
        if other.currency != self.currency {
            return Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                found: other.currency,
            });
        }
        let minor_units = self
            .minor_units
            .checked_add(other.minor_units)
            .ok_or(MoneyError::OutOfRange)?;
        Ok(SignedMoney {
            minor_units,
            currency: self.currency,
        })
    }

    /// "-10.50": the amount alone, with the currency's decimal places.
    pub fn format_amount(&self) -> String {
        self.amount().to_string()
    }
}

impl From<Money> for SignedMoney {
    fn from(money: Money) -> Self {
        SignedMoney {
            minor_units: money.to_minor_units(),
            currency: money.currency,
        }
    }
}

impl std::ops::Neg for SignedMoney {
    type Output = SignedMoney;
    /// Ledger amounts are bounded far below `i64::MAX`, so the saturation never triggers in
    /// practice; it only keeps `i64::MIN` from panicking.
    fn neg(self) -> SignedMoney {
        SignedMoney {
            minor_units: self.minor_units.saturating_neg(),
            currency: self.currency,
        }
    }
}
