//! Amounts as text: the plain-decimal parser every amount goes through, the "10.50 EUR" form
//! that `Display` writes and `FromStr` reads, and the JSON wire form (the amount as a string).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Currency, Money, MoneyError, SignedMoney};

/// Longest amount text that is even looked at, so that parsing is bounded.
const AMOUNT_TEXT_LENGTH_MAX: usize = 40;
impl fmt::Display for Money {
    /// "10.50 EUR": the form `FromStr` reads back.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.amount, self.currency)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    /// Reads "10.50 EUR" (amount, one space, ISO code), the form `Display` writes.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (amount, code) = split_amount_and_code(text)?;
        Money::parse(amount, Currency::parse(code)?)
    }
}

/// The JSON form of `Money` and `SignedMoney`: the amount as a string, never a JSON number, so
/// that no float parser ever touches it.
#[derive(Serialize, Deserialize)]
pub(super) struct MoneyWire {
    amount: String,
    currency: Currency,
}

impl TryFrom<MoneyWire> for Money {
    type Error = MoneyError;
    fn try_from(wire: MoneyWire) -> Result<Self, Self::Error> {
        Money::parse(&wire.amount, wire.currency)
    }
}

impl From<Money> for MoneyWire {
    fn from(money: Money) -> Self {
        MoneyWire {
            amount: money.format_amount(),
            currency: money.currency,
        }
    }
}

impl fmt::Display for SignedMoney {
    /// "-10.50 EUR": the form `FromStr` reads back.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.amount(), self.currency)
    }
}

impl FromStr for SignedMoney {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (amount, code) = split_amount_and_code(text)?;
        SignedMoney::parse(amount, Currency::parse(code)?)
    }
}

impl TryFrom<MoneyWire> for SignedMoney {
    type Error = MoneyError;
    fn try_from(wire: MoneyWire) -> Result<Self, Self::Error> {
        SignedMoney::parse(&wire.amount, wire.currency)
    }
}

impl From<SignedMoney> for MoneyWire {
    fn from(money: SignedMoney) -> Self {
        MoneyWire {
            amount: money.format_amount(),
            currency: money.currency,
        }
    }
}

/// Splits "10.50 EUR" at its single space.
fn split_amount_and_code(text: &str) -> Result<(&str, &str), MoneyError> {
    text.split_once(' ').ok_or_else(|| malformed(text))
}

/// Accepts only `-?[0-9]+(\.[0-9]+)?` (the sign only when `allow_sign`), then lets
/// `rust_decimal` read it exactly.
pub(super) fn parse_plain_decimal(text: &str, allow_sign: bool) -> Result<Decimal, MoneyError> {
    if text.len() > AMOUNT_TEXT_LENGTH_MAX {
        return Err(malformed(text));
    }
    let unsigned = match text.strip_prefix('-') {
        Some(rest) if allow_sign => rest,
        Some(_) => return Err(malformed(text)),
        None => text,
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits =
        |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !all_digits(whole) || !fraction.is_none_or(all_digits) {
        return Err(malformed(text));
    }
    Decimal::from_str_exact(text).map_err(|_| MoneyError::OutOfRange)
}

fn malformed(text: &str) -> MoneyError {
    MoneyError::Malformed {
        text: text.chars().take(AMOUNT_TEXT_LENGTH_MAX).collect(),
    }
}
