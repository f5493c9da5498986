//! Money, exactly: amounts in US dollars ([`Money`]) and hourly rates
//! ([`Rate`]) as decimals that never pass through binary floating point.
//!
//! Amounts keep at most [`MAX_DECIMALS`] decimal places: enough that a cost
//! accrued per hour and summed over years stays exact to far below a cent.
//! Both serialize as JSON strings (`"12.34"`) and read strings or numbers; a
//! number is read through its shortest text form, so the TOML float `0.153`
//! becomes exactly `0.153`, never `0.15299999999999999711`.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use chrono::TimeDelta;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ValidationError;

/// The finest fraction of a dollar Slipway keeps: amounts and rates have at
/// most ten decimal places.
pub const MAX_DECIMALS: u32 = 10;

/// Amounts and rates written by people have at most this many digits before
/// the decimal point (below a quadrillion dollars), so that sums of them stay
/// exact.
const MAX_INTEGER_DIGITS: usize = 15;

/// Milliseconds in an hour.
const MILLIS_PER_HOUR: i128 = 3_600_000;

/// Reads the text form of a decimal: an optional `-` (when `signed`), digits,
/// and optionally a `.` followed by at most [`MAX_DECIMALS`] digits.
fn parse_decimal(field: &str, text: &str, signed: bool) -> Result<Decimal, ValidationError> {
    let rule = |why: &str| {
        ValidationError::new(
            field,
            format!(
                "must be {} amount in dollars such as \"12.34\" or \"5\" ({why}; got {text:?})",
                if signed { "an" } else { "a non-negative" }
            ),
        )
    };
    let trimmed = text.trim();
    let unsigned = match trimmed.strip_prefix('-') {
        Some(rest) if signed => rest,
        Some(_) => return Err(rule("negative")),
        None => trimmed,
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(rule("not a decimal number"));
    }
    if unsigned.ends_with('.') {
        return Err(rule("no digits after the decimal point"));
    }
    if fraction.len() > MAX_DECIMALS as usize {
        return Err(rule(&format!("more than {MAX_DECIMALS} decimal places")));
    }
    if whole.trim_start_matches('0').len() > MAX_INTEGER_DIGITS {
        return Err(rule("too large"));
    }
    Decimal::from_str(trimmed).map_err(|_| rule("not a decimal number"))
}

/// Checks a decimal from code against the same rules as text.
fn check_decimal(field: &str, value: Decimal, signed: bool) -> Result<Decimal, ValidationError> {
    let value = value.normalize();
    if value.scale() > MAX_DECIMALS {
        return Err(ValidationError::new(
            field,
            format!("must have at most {MAX_DECIMALS} decimal places (got {value})"),
        ));
    }
    if !signed && value.is_sign_negative() {
        return Err(ValidationError::new(
            field,
            format!("must not be negative (got {value})"),
        ));
    }
    if value.abs() >= Decimal::from(10_i64.pow(MAX_INTEGER_DIGITS as u32)) {
        return Err(ValidationError::new(
            field,
            format!("is too large (got {value})"),
        ));
    }
    Ok(value)
}

/// Reads a number as the decimal it was written as: through its shortest
/// text form, which is how TOML and JSON wrote it (`0.153` stays `0.153`).
fn decimal_text_of_f64(value: f64) -> String {
    // `f64`'s Display is the shortest text that reads back as the same float,
    // and never uses an exponent.
    value.to_string()
}

/// A divides B rounded half away from zero (ties away from zero).
fn div_round_half_away(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.unsigned_abs() * 2 >= denominator.unsigned_abs() {
        quotient + numerator.signum() * denominator.signum()
    } else {
        quotient
    }
}

/// An amount of US dollars, exact, possibly negative (a refund, a debt).
///
/// Arithmetic saturates at `rust_decimal`'s limits (about ±7.9 × 10²⁸)
/// instead of panicking; amounts parsed from text are below 10¹⁵ dollars, so
/// sums of them stay exact long before that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    /// No money.
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Reads an amount written as `"12.34"`, `"5"` or `"-0.5"`; at most
    /// [`MAX_DECIMALS`] decimal places. Errors name the field `amount`
    /// (rename with [`ValidationError::for_field`]).
    pub fn parse(text: &str) -> Result<Money, ValidationError> {
        parse_decimal("amount", text, true).map(Money)
    }

    /// An amount from an exact decimal, checked like [`Money::parse`].
    pub fn from_decimal(value: Decimal) -> Result<Money, ValidationError> {
        check_decimal("amount", value, true).map(Money)
    }

    /// An amount read from a TOML or JSON number without float error.
    pub fn from_f64(value: f64) -> Result<Money, ValidationError> {
        Money::parse(&decimal_text_of_f64(value))
    }

    /// A whole number of cents: `from_cents(1234)` is $12.34.
    pub fn from_cents(cents: i64) -> Money {
        Money(Decimal::new(cents, 2))
    }

    /// A whole number of dollars.
    pub fn dollars(dollars: i64) -> Money {
        Money(Decimal::from(dollars))
    }

    /// The amount from a count of the smallest unit kept (10⁻¹⁰ dollar),
    /// saturating when it is out of range.
    fn from_units(units: i128) -> Money {
        match Decimal::try_from_i128_with_scale(units, MAX_DECIMALS) {
            Ok(value) => Money(value),
            Err(_) if units < 0 => Money(Decimal::MIN),
            Err(_) => Money(Decimal::MAX),
        }
    }

    /// An exact result rounded half away from zero to [`MAX_DECIMALS`].
    fn kept(value: Decimal) -> Money {
        Money(value.round_dp_with_strategy(MAX_DECIMALS, RoundingStrategy::MidpointAwayFromZero))
    }

    /// One of `parts` equal shares of the amount, truncated toward zero to
    /// 10⁻¹⁰ dollar, so that `parts` shares never add up to more than the
    /// amount. Zero parts get the whole amount.
    pub fn share(self, parts: u32) -> Money {
        Money::from_units(self.units() / i128::from(parts.max(1)))
    }

    /// The exact decimal.
    pub fn amount(self) -> Decimal {
        self.0
    }

    /// Rounded to whole cents, half up (ties away from zero, like Python's
    /// `ROUND_HALF_UP`): 0.125 → 0.13, −0.125 → −0.13.
    pub fn cents(self) -> Money {
        Money(
            self.0
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
                .normalize(),
        )
    }

    /// Whether the amount is a whole number of cents.
    pub fn is_whole_cents(self) -> bool {
        self.cents() == self
    }

    /// Exactly zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Below zero.
    pub fn is_negative(self) -> bool {
        self.0 < Decimal::ZERO
    }

    /// Above zero.
    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// The amount times `factor` (e.g. a fraction of the monthly allowance),
    /// rounded half away from zero to [`MAX_DECIMALS`].
    pub fn times(self, factor: Decimal) -> Money {
        self.0
            .checked_mul(factor)
            .map_or_else(|| Money(self.0.saturating_mul(factor)), Money::kept)
    }

    /// The nearest `f64`, for reports that need one (gRPC's `double`,
    /// statistics); never for arithmetic on balances.
    pub fn to_f64(self) -> f64 {
        self.0.to_f64().unwrap_or(0.0)
    }

    /// The amount in units of 10⁻¹⁰ dollar (saturating for amounts too
    /// large to carry ten decimals).
    fn units(self) -> i128 {
        let mut value = self.0;
        value.rescale(MAX_DECIMALS);
        let missing = MAX_DECIMALS.saturating_sub(value.scale());
        value.mantissa().saturating_mul(10_i128.pow(missing))
    }
}

impl fmt::Display for Money {
    /// The exact amount with at least two decimals: `12.30`, `1.2465`, `-3.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut value = self.0.normalize();
        if value.scale() < 2 {
            value.rescale(2);
        }
        fmt::Display::fmt(&value, f)
    }
}

impl FromStr for Money {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0.saturating_sub(rhs.0))
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        *self = *self + rhs;
    }
}

impl SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        *self = *self - rhs;
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Money> for Money {
    fn sum<I: Iterator<Item = &'a Money>>(iter: I) -> Money {
        iter.copied().sum()
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DecimalVisitor {
            expecting: "an amount in dollars, as a string such as \"12.34\" or a number",
            read: Money::parse,
        })
    }
}

/// A cost per hour in US dollars, exact, never negative, at most
/// [`Rate::MAX`] (sums saturate there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(Decimal);

impl Rate {
    /// Nothing per hour.
    pub const ZERO: Rate = Rate(Decimal::ZERO);

    /// The largest rate: a billion dollars an hour. Far beyond any cluster,
    /// small enough that [`Rate::for_duration`] is exact integer arithmetic
    /// for any duration.
    pub const MAX: Rate = Rate(Decimal::from_parts(1_000_000_000, 0, 0, false, 0));

    /// A rate of `mills` thousandths of a dollar per hour:
    /// `Rate::from_mills(153)` is 0.153 $/h.
    pub const fn from_mills(mills: u32) -> Rate {
        Rate(Decimal::from_parts(mills, 0, 0, false, 3))
    }

    /// Reads a rate written as `"0.153"` or `"2"`; at most [`MAX_DECIMALS`]
    /// decimal places. Errors name the field `rate`.
    pub fn parse(text: &str) -> Result<Rate, ValidationError> {
        parse_decimal("rate", text, false).and_then(Rate::from_decimal)
    }

    /// A rate from an exact decimal, checked like [`Rate::parse`].
    pub fn from_decimal(value: Decimal) -> Result<Rate, ValidationError> {
        let value = check_decimal("rate", value, false)?;
        if value > Rate::MAX.0 {
            return Err(ValidationError::new(
                "rate",
                format!(
                    "must be at most {} dollars an hour (got {value})",
                    Rate::MAX
                ),
            ));
        }
        Ok(Rate(value))
    }

    /// A rate read from a TOML or JSON number without float error: `0.153`
    /// becomes exactly 0.153, through the number's shortest text form.
    pub fn from_f64(value: f64) -> Result<Rate, ValidationError> {
        Rate::parse(&decimal_text_of_f64(value))
    }

    /// Dollars per hour, exact.
    pub fn per_hour(self) -> Decimal {
        self.0
    }

    /// The cost of one hour.
    pub fn hour_cost(self) -> Money {
        Money(self.0)
    }

    /// Whether the rate is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The rate `count` times over (`count` nodes), saturating at
    /// [`Rate::MAX`].
    pub fn times(self, count: u32) -> Rate {
        Rate(self.0.saturating_mul(Decimal::from(count)).min(Rate::MAX.0))
    }

    /// The cost of running for `duration`: rate × milliseconds / 3 600 000.
    /// Exact whenever the true cost has at most [`MAX_DECIMALS`] decimal
    /// places (0.831 $/h for 90 minutes is exactly 1.2465); otherwise — the
    /// division by 3 600 000 need not terminate: 0.1 $/h for one second is
    /// 0.0000277… — rounded once, half away from zero, to 10⁻¹⁰ dollar.
    /// Negative durations cost negative amounts; sub-millisecond parts are
    /// ignored.
    pub fn for_duration(self, duration: TimeDelta) -> Money {
        self.for_millis(duration.num_milliseconds())
    }

    /// The cost of running for `millis` milliseconds; see
    /// [`Rate::for_duration`].
    pub fn for_millis(self, millis: i64) -> Money {
        // At most 10^9 × 10^10 × 9.3 × 10^18 < i128::MAX: never overflows.
        let units = Money(self.0).units();
        units
            .checked_mul(i128::from(millis))
            .map_or(Money(Decimal::MAX), |numerator| {
                Money::from_units(div_round_half_away(numerator, MILLIS_PER_HOUR))
            })
    }

    /// The whole hours at this rate that it takes to spend `amount`: the
    /// smallest `n` with `n × rate ≥ amount` (0 for an amount ≤ 0), saturating
    /// at `i64::MAX`; `None` at rate zero, which never spends anything.
    pub fn hours_to_spend(self, amount: Money) -> Option<i64> {
        let per_hour = Money(self.0).units();
        if per_hour == 0 {
            return None;
        }
        let amount = amount.units();
        if amount <= 0 {
            return Some(0);
        }
        let hours = amount / per_hour + i128::from(amount % per_hour != 0);
        Some(i64::try_from(hours).unwrap_or(i64::MAX))
    }

    /// The nearest `f64`, for reports; never for arithmetic.
    pub fn to_f64(self) -> f64 {
        self.0.to_f64().unwrap_or(0.0)
    }
}

impl fmt::Display for Rate {
    /// The exact rate in dollars per hour, without trailing zeros: `0.153`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

impl FromStr for Rate {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rate::parse(s)
    }
}

impl Add for Rate {
    type Output = Rate;
    fn add(self, rhs: Rate) -> Rate {
        Rate(self.0.saturating_add(rhs.0).min(Rate::MAX.0))
    }
}

impl Sum for Rate {
    fn sum<I: Iterator<Item = Rate>>(iter: I) -> Rate {
        iter.fold(Rate::ZERO, Add::add)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DecimalVisitor {
            expecting: "dollars per hour, as a number such as 0.153 or a string such as \"0.153\"",
            read: Rate::parse,
        })
    }
}

/// Reads a [`Money`] or [`Rate`] from a string or a number, exactly.
struct DecimalVisitor<T> {
    expecting: &'static str,
    read: fn(&str) -> Result<T, ValidationError>,
}

impl<T> DecimalVisitor<T> {
    fn read<E: de::Error>(&self, text: &str) -> Result<T, E> {
        (self.read)(text).map_err(|e| E::custom(e.rule))
    }
}

impl<T> Visitor<'_> for DecimalVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        self.read(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.read(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.read(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.read(&decimal_text_of_f64(v))
    }
}

#[cfg(feature = "openapi")]
mod openapi {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

    fn decimal_string(description: &str, example: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^-?[0-9]+(\.[0-9]{1,10})?$"))
            .description(Some(description))
            .examples([example])
            .into()
    }

    impl utoipa::PartialSchema for super::Money {
        fn schema() -> RefOr<Schema> {
            decimal_string(
                "An exact amount of US dollars, as a decimal string.",
                "12.34",
            )
        }
    }
    impl utoipa::ToSchema for super::Money {}

    impl utoipa::PartialSchema for super::Rate {
        fn schema() -> RefOr<Schema> {
            decimal_string(
                "An exact cost in US dollars per hour, as a decimal string.",
                "0.153",
            )
        }
    }
    impl utoipa::ToSchema for super::Rate {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn r(text: &str) -> Rate {
        Rate::parse(text).unwrap()
    }

    #[test]
    fn amounts_parse_exactly_and_reject_what_is_not_an_amount() {
        assert_eq!(m("12.34").amount(), Decimal::new(1234, 2));
        assert_eq!(m("5"), Money::dollars(5));
        assert_eq!(m("-0.5"), -Money::from_cents(50));
        assert_eq!(m("0.0000000001").amount(), Decimal::new(1, 10));
        for bad in [
            "",
            "-",
            ".5",
            "5.",
            "1e3",
            "1_000",
            "+1",
            "12.34.5",
            "NaN",
            "inf",
            "0x10",
            "1,5",
            "0.00000000001",
            "1000000000000000",
        ] {
            let err = Money::parse(bad).unwrap_err();
            assert_eq!(err.field, "amount", "{bad:?}");
        }
        assert!(Money::parse("999999999999999.9999999999").is_ok());
        assert!(Money::from_decimal(Decimal::new(1, 11)).is_err());
        assert_eq!(
            Money::from_decimal(Decimal::new(12_300, 3)).unwrap(),
            m("12.3")
        );
        let renamed = Money::parse("x")
            .unwrap_err()
            .for_field("monthly_allowance");
        assert_eq!(renamed.field, "monthly_allowance");
    }

    #[test]
    fn cents_round_half_up_away_from_zero() {
        assert_eq!(m("0.125").cents(), m("0.13"));
        assert_eq!(m("-0.125").cents(), m("-0.13"));
        assert_eq!(m("0.124999").cents(), m("0.12"));
        assert_eq!(m("2.675").cents(), m("2.68"));
        assert_eq!(m("-0.004").cents(), Money::ZERO);
        assert_eq!(m("-0.004").cents().to_string(), "0.00");
        assert!(m("3.10").is_whole_cents());
        assert!(!m("3.101").is_whole_cents());
    }

    #[test]
    fn display_has_at_least_two_decimals() {
        assert_eq!(m("12.3").to_string(), "12.30");
        assert_eq!(m("5").to_string(), "5.00");
        assert_eq!(m("1.2465").to_string(), "1.2465");
        assert_eq!(m("1.2400000000").to_string(), "1.24");
        assert_eq!(m("-3").to_string(), "-3.00");
        assert_eq!(Money::ZERO.to_string(), "0.00");
    }

    #[test]
    fn money_serializes_as_a_string_and_reads_strings_and_numbers() {
        assert_eq!(serde_json::to_string(&m("12.34")).unwrap(), "\"12.34\"");
        let read = |json: &str| serde_json::from_str::<Money>(json);
        assert_eq!(read("\"12.34\"").unwrap(), m("12.34"));
        assert_eq!(read("12.34").unwrap(), m("12.34"));
        assert_eq!(read("0.1").unwrap().amount(), Decimal::new(1, 1));
        assert_eq!(read("-7").unwrap(), m("-7"));
        assert!(read("\"lots\"").is_err());
        assert!(read("0.30000000000000004").is_err());
        assert!(read("true").is_err());
    }

    #[test]
    fn arithmetic_is_exact() {
        let tenth = m("0.1");
        let sum: Money = std::iter::repeat_n(tenth, 10).sum();
        assert_eq!(sum, Money::dollars(1));
        assert_eq!(m("3") - m("4.5"), m("-1.5"));
        assert_eq!([m("1"), m("2")].iter().sum::<Money>(), m("3"));
        assert!(m("-1") < Money::ZERO && Money::ZERO < m("0.0000000001"));
        assert_eq!(m("1000").times(Decimal::new(25, 2)), m("250"));
        assert_eq!(
            m("0.0000000001").times(Decimal::new(5, 1)),
            m("0.0000000001")
        );
        assert_eq!(m("12.5").to_f64(), 12.5);
    }

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let huge = Money(Decimal::MAX);
        assert_eq!(huge + huge, huge);
        assert_eq!(-huge - huge, -huge);
        assert_eq!(huge.times(Decimal::from(10)), huge);
        assert_eq!(Rate::MAX + Rate::MAX, Rate::MAX);
        assert_eq!(Rate::MAX.times(1000), Rate::MAX);
        assert_eq!(
            Rate::MAX.for_duration(TimeDelta::MAX),
            Money::from_units(i128::MAX)
        );
    }

    #[test]
    fn rates_read_toml_and_json_numbers_without_float_error() {
        assert_eq!(
            Rate::from_f64(0.153).unwrap().per_hour(),
            Decimal::new(153, 3)
        );
        assert_eq!(
            Rate::from_f64(0.226).unwrap().per_hour(),
            Decimal::new(226, 3)
        );
        assert_eq!(Rate::from_f64(2.0).unwrap(), r("2"));
        assert!(Rate::from_f64(f64::NAN).is_err());
        assert!(Rate::from_f64(f64::INFINITY).is_err());
        assert!(Rate::from_f64(-0.5).is_err());
        assert!(Rate::from_f64(0.1 + 0.2).is_err());
        assert_eq!(Rate::parse("-1").unwrap_err().field, "rate");
        assert!(Rate::parse("1000000001").is_err());

        #[derive(Deserialize)]
        struct Doc {
            rate: Rate,
        }
        let doc: Doc = toml::from_str("rate = 0.153").unwrap();
        assert_eq!(doc.rate, r("0.153"));
        let doc: Doc = toml::from_str("rate = \"0.226\"").unwrap();
        assert_eq!(doc.rate, r("0.226"));
        let doc: Doc = toml::from_str("rate = 3").unwrap();
        assert_eq!(doc.rate, r("3"));
        let doc: Doc = serde_json::from_str(r#"{"rate": 0.153}"#).unwrap();
        assert_eq!(doc.rate.to_string(), "0.153");
        assert_eq!(serde_json::to_string(&r("0.1530")).unwrap(), "\"0.153\"");
    }

    #[test]
    fn a_rate_costs_rate_times_duration() {
        let rate = r("0.831");
        assert_eq!(rate.for_duration(TimeDelta::minutes(90)), m("1.2465"));
        assert_eq!(rate.for_duration(TimeDelta::hours(1)), rate.hour_cost());
        assert_eq!(r("0.153").for_millis(1), m("0.0000000425"));
        // 0.1 $/h for one second is 0.0000277…: rounded half up at 10⁻¹⁰
        assert_eq!(
            r("0.1").for_duration(TimeDelta::seconds(1)),
            m("0.0000277778")
        );
        assert_eq!(rate.for_duration(TimeDelta::minutes(-90)), m("-1.2465"));
        assert_eq!(Rate::ZERO.for_duration(TimeDelta::days(365)), Money::ZERO);
        assert_eq!(r("0.226").times(3) + r("0.153"), r("0.831"));
        assert_eq!([r("1"), r("0.5")].into_iter().sum::<Rate>(), r("1.5"));
    }

    #[test]
    fn hours_to_spend_round_up() {
        assert_eq!(r("0.5").hours_to_spend(m("1")), Some(2));
        assert_eq!(r("0.5").hours_to_spend(m("1.0000000001")), Some(3));
        assert_eq!(r("0.831").hours_to_spend(m("0")), Some(0));
        assert_eq!(r("0.831").hours_to_spend(m("-5")), Some(0));
        assert_eq!(Rate::ZERO.hours_to_spend(m("5")), None);
        assert_eq!(
            r("0.0000000001").hours_to_spend(m("999999999999999")),
            Some(i64::MAX)
        );
    }

    #[test]
    fn shares_never_add_up_to_more_than_the_amount() {
        assert_eq!(m("10").share(3), m("3.3333333333"));
        assert_eq!(m("-10").share(3), m("-3.3333333333"));
        assert_eq!(m("10").share(0), m("10"));
    }

    proptest! {
        #[test]
        fn text_round_trips(units in -10i128.pow(25)..10i128.pow(25)) {
            let money = Money::from_units(units);
            prop_assert_eq!(Money::parse(&money.to_string()).unwrap(), money);
            let json = serde_json::to_string(&money).unwrap();
            prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        }

        #[test]
        fn cents_are_the_nearest_cent_with_ties_away_from_zero(units in -10i128.pow(15)..10i128.pow(15)) {
            let money = Money::from_units(units);
            let cents = money.cents();
            prop_assert!(cents.is_whole_cents());
            let distance = (money - cents).amount().abs();
            let half_cent = Decimal::new(5, 3);
            prop_assert!(distance <= half_cent);
            if distance == half_cent {
                prop_assert!(cents.amount().abs() > money.amount().abs());
            }
        }

        #[test]
        fn costs_add_up_over_consecutive_whole_hours(
            rate_units in 0i64..10_000_000_000, a in 0i64..10_000, b in 0i64..10_000,
        ) {
            let rate = Rate(Decimal::new(rate_units, 4));
            let whole = |hours| rate.for_duration(TimeDelta::hours(hours));
            prop_assert_eq!(whole(a) + whole(b), whole(a + b));
        }

        #[test]
        fn cost_is_rounded_once_to_the_nearest_unit(rate_units in 0i64..10_000_000, millis in -10_i64.pow(12)..10_i64.pow(12)) {
            let rate = Rate(Decimal::new(rate_units, 3));
            // rate × ms / 3 600 000 in units of 10⁻¹⁰ dollar, as an exact fraction
            let numerator = i128::from(rate_units) * 10_i128.pow(7) * i128::from(millis);
            let cost = rate.for_millis(millis).units();
            prop_assert!((cost * MILLIS_PER_HOUR - numerator).abs() * 2 <= MILLIS_PER_HOUR);
        }
    }
}
