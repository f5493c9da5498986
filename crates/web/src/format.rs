//! How values read on a page: times (UTC on the server, the viewer's zone
//! by `app.js`, UTC on hover), countdowns, money with its currency and
//! cents, and one badge per state with one colour per state everywhere.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use slipway_core::{ClusterState, Money, OperationState, Rate};

pub fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time: shown in UTC until `app.js` rewrites it in the viewer's zone
/// (and puts the UTC time in its title).
pub fn time(t: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) title=(utc_text(t)) {
            (utc_text(t))
        }
    }
}

pub fn opt_time(t: Option<DateTime<Utc>>) -> Markup {
    match t {
        Some(t) => time(t),
        None => html! { span.none { "—" } },
    }
}

/// `1h 02m 03s`, `4m 05s`, `12s`.
pub fn span_text(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// The time left until `t`, counted down each second by `app.js`.
pub fn countdown(t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    let left = (t - now).num_seconds();
    html! {
        span.countdown data-countdown=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) aria-live="off" {
            @if left > 0 { "in " (span_text(left)) } @else { "due now" }
        }
    }
}

/// Whole dollars with thousands separators and cents, rounded half up:
/// `$1,234.50`, `−$3.00`.
pub fn money(m: Money) -> String {
    let text = m.cents().to_string();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.to_owned()),
        None => (false, text),
    };
    let (whole, cents) = digits.split_once('.').unwrap_or((&digits, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}${grouped}.{cents:0<2}", if negative { "−" } else { "" })
}

/// `$0.153/h`
pub fn rate(r: Rate) -> String {
    format!("${r}/h")
}

/// A cluster's state: one class per state, moving while it changes.
pub fn cluster_state(state: ClusterState) -> Markup {
    html! {
        span class={"badge state-" (state.as_str())} data-state=(state.as_str()) { (state.as_str()) }
    }
}

/// An operation's state, coloured like the cluster states it leads to.
pub fn operation_state(state: OperationState) -> Markup {
    html! {
        span class={"badge op-" (state.as_str())} data-op-state=(state.as_str()) { (state.as_str()) }
    }
}

/// What to call the people behind subjects (`github:<id>`): their login,
/// with the subject on hover.
#[derive(Debug, Default)]
pub struct Names(pub HashMap<String, String>);

impl Names {
    pub fn show(&self, subject: &str) -> Markup {
        match self.0.get(subject) {
            Some(name) => html! { span title=(subject) { (name) } },
            None => html! { (subject) },
        }
    }
}

/// The time an operation took (or has taken so far).
pub fn took(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => span_text((e - s).num_seconds()),
        (Some(s), None) => format!("{} so far", span_text((Utc::now() - s).num_seconds())),
        _ => "—".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_separators_and_cents() {
        assert_eq!(money(Money::parse("1234.5").unwrap()), "$1,234.50");
        assert_eq!(money(Money::parse("0.125").unwrap()), "$0.13");
        assert_eq!(money(Money::parse("-3").unwrap()), "−$3.00");
        assert_eq!(money(Money::parse("1000000").unwrap()), "$1,000,000.00");
        assert_eq!(money(Money::parse("999.999").unwrap()), "$1,000.00");
    }

    #[test]
    fn spans_read_short() {
        assert_eq!(span_text(12), "12s");
        assert_eq!(span_text(245), "4m 05s");
        assert_eq!(span_text(3723), "1h 02m 03s");
        assert_eq!(span_text(90_000), "1d 01h 00m");
        assert_eq!(span_text(-5), "0s");
    }
}
