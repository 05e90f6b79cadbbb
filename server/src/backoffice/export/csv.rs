//! CSV as RFC 4180 writes it, with cells that a spreadsheet could run as formulas neutralised,
//! and the cell formats every list shares (times, amounts, absent values).

use app::domain::money::{Currency, SignedMoney};
use chrono::{DateTime, Utc};

/// One CSV cell: formulas neutralised, quoted when needed.
pub fn csv_cell(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(value);
    let value = if formula {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// `-10.50`, `42`: a number a spreadsheet reads as a number, never as a formula.
fn is_plain_number(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|byte| byte.is_ascii_digit())
        && fraction.is_none_or(|fraction| {
            !fraction.is_empty() && fraction.bytes().all(|byte| byte.is_ascii_digit())
        })
}

/// One CSV line (CRLF-terminated, as RFC 4180 asks).
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells
        .iter()
        .map(|cell| csv_cell(cell.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

pub fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

pub fn amount(minor: Option<i64>, currency: &str) -> String {
    match (minor, Currency::parse(currency)) {
        (Some(minor), Ok(currency)) => {
            SignedMoney::from_minor_units(minor, currency).format_amount()
        }
        (Some(minor), Err(_)) => minor.to_string(),
        (None, _) => String::new(),
    }
}

pub fn text(value: Option<String>) -> String {
    value.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves cells that a spreadsheet would run as formulas are neutralised, plain numbers are
    // left as numbers, and cells with separators are quoted per RFC 4180.
    #[test]
    fn cells_are_neutralised_and_quoted() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2+3"), "'-2+3");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("\tcmd"), "'\tcmd");
        assert_eq!(csv_cell("-10.50"), "-10.50");
        assert_eq!(csv_cell("42"), "42");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_line(&["a", "b"]), "a,b\r\n");
        assert!(!is_plain_number("-"));
        assert!(!is_plain_number("1."));
        assert!(!is_plain_number("-1e5"));
    }
}
