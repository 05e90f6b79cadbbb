//! Money as the rest of Kasa sees it: a currency with its ISO 4217 minor unit, a positive
//! `Money` amount that can only be built valid, and a `SignedMoney` for balances and ledger
//! movements. Compiled for the browser and the server alike, so it uses no floats and no I/O.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The largest amount, in major units (euros, yen, ...), that `Money::new` and `Money::parse`
/// accept. It is a sanity bound, far above any single casino payment, that keeps every amount
/// and every balance sum well inside `i64` minor units. Policies pass their own, smaller maximum
/// to the `*_with_max` constructors.
pub const AMOUNT_MAX_MAJOR: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// Longest amount text that is even looked at, so that parsing is bounded.
const AMOUNT_TEXT_LENGTH_MAX: usize = 40;

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
#[serde(try_from = "MoneyWire", into = "MoneyWire")]
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
struct MoneyWire {
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

/// A signed amount of one currency, kept as exact minor units: a balance (zero allowed, and
/// negative for operator accounts) or a ledger movement seen from one account (credits
/// positive, debits negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyWire", into = "MoneyWire")]
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
fn parse_plain_decimal(text: &str, allow_sign: bool) -> Result<Decimal, MoneyError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(text: &str) -> Result<Money, MoneyError> {
        Money::parse(text, Currency::Eur)
    }

    // Proves currency codes parse case-insensitively and carry the ISO minor unit.
    #[test]
    fn currencies_parse_and_know_their_minor_unit() {
        assert_eq!(Currency::parse("EUR"), Ok(Currency::Eur));
        assert_eq!(Currency::parse("try"), Ok(Currency::Try));
        assert_eq!(Currency::Jpy.minor_unit_scale(), 0);
        assert_eq!(Currency::Gbp.minor_unit_scale(), 2);
        assert_eq!(Currency::Usd.minor_units_per_major(), 100);
        for currency in Currency::ALL {
            assert_eq!(Currency::parse(currency.code()), Ok(currency));
        }
        let error = Currency::parse("XXX").unwrap_err();
        assert_eq!(error.code(), "unknown_currency");
        assert!(Currency::parse("EU").is_err());
    }

    // Proves valid amounts are accepted and carry exactly the currency's decimal places.
    #[test]
    fn valid_amounts_are_accepted_at_the_currency_scale() {
        assert_eq!(eur("10").unwrap().format_amount(), "10.00");
        assert_eq!(eur("10.5").unwrap().format_amount(), "10.50");
        assert_eq!(eur("0.01").unwrap().to_minor_units(), 1);
        // Trailing zeros are not extra precision: nothing is rounded.
        assert_eq!(eur("10.500").unwrap().to_minor_units(), 1050);
        assert_eq!(
            Money::parse("1500", Currency::Jpy)
                .unwrap()
                .to_minor_units(),
            1500
        );
        assert_eq!(
            Money::parse("1500", Currency::Jpy).unwrap().format_amount(),
            "1500"
        );
    }

    // Proves every kind of bad amount is refused with the `invalid_amount` code and never rounded.
    #[test]
    fn invalid_amounts_are_rejected_never_rounded() {
        assert_eq!(eur("0"), Err(MoneyError::NotPositive));
        assert_eq!(eur("0.00"), Err(MoneyError::NotPositive));
        assert!(matches!(eur("-1"), Err(MoneyError::Malformed { .. })));
        assert_eq!(
            eur("10.005"),
            Err(MoneyError::TooPrecise {
                currency: Currency::Eur,
                scale: 2
            })
        );
        assert_eq!(
            Money::parse("1.5", Currency::Jpy),
            Err(MoneyError::TooPrecise {
                currency: Currency::Jpy,
                scale: 0
            })
        );
        assert!(matches!(
            eur("1000000000.01"),
            Err(MoneyError::AboveMaximum { .. })
        ));
        assert!(eur("1000000000").is_ok());
        for text in [
            "", " 1", "1 ", "+1", "1e3", "1,00", "1_000", ".5", "5.", "1.2.3", "NaN", "١٢",
        ] {
            assert!(
                matches!(eur(text), Err(MoneyError::Malformed { .. })),
                "{text:?} must be malformed"
            );
        }
        assert!(eur("99999999999999999999999999999999999").is_err());
        for error in [eur("0"), eur("1.001"), eur("x"), eur("2000000000")] {
            assert_eq!(error.unwrap_err().code(), "invalid_amount");
        }
    }

    // Proves a policy maximum passed in is enforced inclusively.
    #[test]
    fn a_caller_maximum_is_enforced() {
        let max = Decimal::new(50_000, 2);
        assert!(Money::parse_with_max("500.00", Currency::Eur, max).is_ok());
        assert_eq!(
            Money::parse_with_max("500.01", Currency::Eur, max),
            Err(MoneyError::AboveMaximum {
                max,
                currency: Currency::Eur
            })
        );
    }

    // Proves minor-unit conversion is exact both ways and validates like the other constructors.
    #[test]
    fn minor_units_convert_exactly() {
        let money = Money::from_minor_units(123_456, Currency::Eur).unwrap();
        assert_eq!(money.amount(), Decimal::new(123_456, 2));
        assert_eq!(money.to_minor_units(), 123_456);
        assert_eq!(
            Money::from_minor_units(7, Currency::Jpy)
                .unwrap()
                .format_amount(),
            "7"
        );
        assert_eq!(
            Money::from_minor_units(0, Currency::Eur),
            Err(MoneyError::NotPositive)
        );
        assert_eq!(
            Money::from_minor_units(-5, Currency::Eur),
            Err(MoneyError::NotPositive)
        );
    }

    // Proves Display and FromStr round-trip for every currency over many amounts, and JSON too.
    #[test]
    fn formatting_and_parsing_round_trip() {
        for currency in Currency::ALL {
            for minor in [1_i64, 9, 10, 99, 100, 101, 123_456_789, 1_000_000_000] {
                let money = Money::from_minor_units(minor, currency).unwrap();
                let text = money.to_string();
                assert_eq!(text.parse::<Money>(), Ok(money), "{text}");
                assert_eq!(Money::parse(&money.format_amount(), currency), Ok(money));
                let json = serde_json::to_string(&money).unwrap();
                assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
                let signed = -SignedMoney::from(money);
                assert_eq!(signed.to_string().parse::<SignedMoney>(), Ok(signed));
            }
        }
        assert_eq!(eur("10.5").unwrap().to_string(), "10.50 EUR");
        assert_eq!(
            serde_json::to_string(&eur("10.5").unwrap()).unwrap(),
            r#"{"amount":"10.50","currency":"EUR"}"#
        );
    }

    // Proves JSON input is validated: numbers, bad scales and unknown currencies are refused.
    #[test]
    fn json_input_is_validated() {
        assert!(serde_json::from_str::<Money>(r#"{"amount":10.5,"currency":"EUR"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"10.555","currency":"EUR"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"0","currency":"EUR"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"1","currency":"XYZ"}"#).is_err());
        let zero: SignedMoney = serde_json::from_str(r#"{"amount":"0","currency":"JPY"}"#).unwrap();
        assert!(zero.is_zero());
    }

    // Proves signed amounts keep exact minor units, format with a sign, and refuse mixed currencies.
    #[test]
    fn signed_money_is_exact() {
        let balance = SignedMoney::parse("-10.5", Currency::Eur).unwrap();
        assert_eq!(balance.minor_units(), -1050);
        assert_eq!(balance.to_string(), "-10.50 EUR");
        assert!(balance.is_negative());
        assert_eq!(balance.abs(), Some(eur("10.50").unwrap()));
        assert_eq!(SignedMoney::zero(Currency::Eur).to_string(), "0.00 EUR");
        assert_eq!(SignedMoney::zero(Currency::Eur).abs(), None);
        let sum = balance
            .checked_add(SignedMoney::from_minor_units(2000, Currency::Eur))
            .unwrap();
        assert_eq!(sum.minor_units(), 950);
        assert_eq!(
            balance
                .checked_add(SignedMoney::zero(Currency::Usd))
                .unwrap_err()
                .code(),
            "currency_mismatch"
        );
        assert!(SignedMoney::parse("1.001", Currency::Eur).is_err());
        assert!(SignedMoney::parse("--1", Currency::Eur).is_err());
        assert_eq!(
            eur("5")
                .unwrap()
                .require_currency(Currency::Usd)
                .unwrap_err()
                .code(),
            "currency_mismatch"
        );
    }
}
