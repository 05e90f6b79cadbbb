//! The money rules, proved on the values a player or an operator would type.

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
