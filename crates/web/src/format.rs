//! How values read on a page: times in the viewer's zone (the `slipway_tz`
//! cookie `app.js` sets; UTC until it has, and the page says which),
//! countdowns, money with its currency and cents, and one badge per state
//! with one colour per state everywhere.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};
use slipway_core::cost::CostModel;
use slipway_core::{ClusterState, Money, OperationState, Rate};

/// The cookie `app.js` keeps the browser's time zone in (an IANA name).
pub const ZONE_COOKIE: &str = "slipway_tz";

/// The zone a cookie names, or UTC when it names none Slipway knows.
pub fn zone_of(cookie: Option<&str>) -> Tz {
    cookie
        .and_then(|name| name.parse::<Tz>().ok())
        .unwrap_or(Tz::UTC)
}

/// What to call the zone: its IANA name (`Europe/Berlin`, `UTC`).
pub fn zone_name(zone: Tz) -> &'static str {
    zone.name()
}

/// `Dec 7, 2026, 18:00` in `zone`.
pub fn time_text(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%b %-d, %Y, %H:%M")
        .to_string()
}

/// `Oct 1, 2026` in `zone`.
pub fn date_text(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone).format("%b %-d, %Y").to_string()
}

/// A time in a flash's text: RFC 3339, which the page showing the flash
/// rewrites in the viewer's zone ([`humanize`]).
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A time, in the viewer's zone, as a `<time>` element.
pub fn time(t: DateTime<Utc>, zone: Tz) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) { (time_text(t, zone)) }
    }
}

/// A day, in the viewer's zone, as a `<time>` element.
pub fn date(t: DateTime<Utc>, zone: Tz) -> Markup {
    let day = t.with_timezone(&zone);
    html! {
        time datetime=(day.format("%Y-%m-%d").to_string()) { (date_text(t, zone)) }
    }
}

pub fn opt_time(t: Option<DateTime<Utc>>, zone: Tz) -> Markup {
    match t {
        Some(t) => time(t, zone),
        None => html! { span.none { "—" } },
    }
}

/// A time near `now` as a person says it: `today, 18:00`, `tomorrow, Dec
/// 8, 18:00`, `Dec 20, 2026, 18:00`.
pub fn when_text(t: DateTime<Utc>, now: DateTime<Utc>, zone: Tz) -> String {
    let (day, today) = (t.with_timezone(&zone), now.with_timezone(&zone));
    let days = day
        .date_naive()
        .signed_duration_since(today.date_naive())
        .num_days();
    match days {
        0 => format!("today, {}", day.format("%H:%M")),
        1 => format!("tomorrow, {}", day.format("%b %-d, %H:%M")),
        _ if day.year() == today.year() && (0..300).contains(&days) => {
            day.format("%b %-d, %H:%M").to_string()
        }
        _ => time_text(t, zone),
    }
}

/// What a cluster of `nodes` nodes costs under `model`, before it is
/// asked for: `2 nodes × $360.00 + $36.00 = $756.00/h; for 2h ≈ $1,512.00`.
/// `app.js` writes the same words as the person changes the form.
pub fn estimate(model: CostModel, nodes: u32, ttl: Option<std::time::Duration>) -> String {
    if nodes == 0 {
        return "0 nodes: nothing is deployed, $0.00/h.".to_owned();
    }
    let hourly = model.hourly(nodes);
    let mut text = format!(
        "{nodes} node{} × {} + {} = {}",
        if nodes == 1 { "" } else { "s" },
        money(model.per_node_hourly_usd.hour_cost()),
        money(model.fixed_hourly_usd.hour_cost()),
        rate(hourly)
    );
    if let Some(ttl) = ttl
        && let Ok(span) = chrono::TimeDelta::from_std(ttl)
    {
        text.push_str(&format!(
            "; for {} ≈ {}",
            slipway_core::duration::format_duration(ttl),
            money(hourly.for_duration(span))
        ));
    }
    text
}

/// The estimate of a form, with what `app.js` needs to keep it current:
/// the model's rates and the ids of the fields it follows (`nodes`, and
/// `ttl` if the form has one).
pub fn estimate_markup(
    id: &str,
    model: CostModel,
    nodes: u32,
    ttl: Option<std::time::Duration>,
    fields: (&str, Option<&str>),
) -> Markup {
    html! {
        p.estimate #(id) data-estimate data-fixed=(model.fixed_hourly_usd.per_hour())
            data-per-node=(model.per_node_hourly_usd.per_hour()) data-nodes=(fields.0) data-ttl=[fields.1]
            aria-live="polite" {
            "Estimate: " span data-estimate-text { (estimate(model, nodes, ttl)) }
        }
    }
}

/// How soon an account's money runs out at its current rate, as a sentence
/// with its tone: `bad` within two days, `warn` within two weeks, nothing
/// later (or never).
pub fn runs_out(
    at: Option<DateTime<Utc>>,
    current: Rate,
    now: DateTime<Utc>,
    zone: Tz,
) -> Option<(&'static str, String)> {
    let at = at?;
    let left = at - now;
    let tone = if left <= chrono::TimeDelta::days(2) {
        "bad"
    } else if left <= chrono::TimeDelta::days(14) {
        "warn"
    } else {
        return None;
    };
    let when = if at <= now {
        "now".to_owned()
    } else {
        when_text(at, now, zone)
    };
    Some((
        tone,
        format!(
            "Money runs out {when}, at the current rate of {}.",
            rate(current)
        ),
    ))
}

/// A message with every RFC 3339 time in it (as the service writes them)
/// rewritten in the viewer's zone.
pub fn humanize(text: &str, zone: Tz) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if let Some(len) = rfc3339_at(bytes, i)
            && let Ok(t) = DateTime::parse_from_rfc3339(&text[i..i + len])
        {
            out.push_str(&time_text(t.with_timezone(&Utc), zone));
            i += len;
            continue;
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The length of an RFC 3339 time starting at `i`, if one does.
fn rfc3339_at(b: &[u8], i: usize) -> Option<usize> {
    let digits = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let at = |k: usize, c: u8| b.get(k) == Some(&c);
    if i > 0 && b[i - 1].is_ascii_digit() {
        return None;
    }
    if !(digits(i, 4) && at(i + 4, b'-') && digits(i + 5, 2) && at(i + 7, b'-') && digits(i + 8, 2))
        || !(at(i + 10, b'T') || at(i + 10, b't') || at(i + 10, b' '))
        || !(digits(i + 11, 2)
            && at(i + 13, b':')
            && digits(i + 14, 2)
            && at(i + 16, b':')
            && digits(i + 17, 2))
    {
        return None;
    }
    let mut k = i + 19;
    if at(k, b'.') {
        k += 1;
        while b.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
    }
    if at(k, b'Z') || at(k, b'z') {
        return Some(k + 1 - i);
    }
    if (at(k, b'+') || at(k, b'-')) && digits(k + 1, 2) && at(k + 3, b':') && digits(k + 4, 2) {
        return Some(k + 6 - i);
    }
    None
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

/// Dollars per hour, to the cent: `$1,116.38/h`.
pub fn rate(r: Rate) -> String {
    format!("{}/h", money(r.hour_cost()))
}

/// A money amount given as a number (statistics, plots), to the cent.
pub fn dollars(v: f64) -> String {
    Money::from_f64(v).map_or_else(|_| format!("${v:.2}"), money)
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
    use chrono::TimeZone;

    #[test]
    fn money_has_separators_and_cents() {
        assert_eq!(money(Money::parse("1234.5").unwrap()), "$1,234.50");
        assert_eq!(money(Money::parse("0.125").unwrap()), "$0.13");
        assert_eq!(money(Money::parse("-3").unwrap()), "−$3.00");
        assert_eq!(money(Money::parse("1000000").unwrap()), "$1,000,000.00");
        assert_eq!(money(Money::parse("999.999").unwrap()), "$1,000.00");
    }

    #[test]
    fn rates_read_as_money_per_hour() {
        assert_eq!(rate(Rate::parse("0.153").unwrap()), "$0.15/h");
        assert_eq!(rate(Rate::parse("1116.375").unwrap()), "$1,116.38/h");
        assert_eq!(rate(Rate::ZERO), "$0.00/h");
        assert_eq!(dollars(1500.0), "$1,500.00");
        assert_eq!(dollars(12.345_67), "$12.35");
    }

    #[test]
    fn times_read_in_the_viewers_zone() {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 18, 0, 0).unwrap();
        let berlin = zone_of(Some("Europe/Berlin"));
        assert_eq!(time_text(t, berlin), "Dec 7, 2026, 19:00");
        assert_eq!(time_text(t, zone_of(None)), "Dec 7, 2026, 18:00");
        assert_eq!(zone_name(zone_of(Some("Not/AZone"))), "UTC");
        let oct = Utc.with_ymd_and_hms(2026, 9, 30, 22, 0, 0).unwrap();
        assert_eq!(date_text(oct, berlin), "Oct 1, 2026");
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 20, 0, 0).unwrap();
        assert_eq!(when_text(t, now, Tz::UTC), "tomorrow, Dec 7, 18:00");
        assert_eq!(when_text(now, now, Tz::UTC), "today, 20:00");
    }

    #[test]
    fn estimates_show_their_sums() {
        let model = CostModel {
            fixed_hourly_usd: Rate::parse("36").unwrap(),
            per_node_hourly_usd: Rate::parse("360").unwrap(),
        };
        let two_hours = std::time::Duration::from_secs(7200);
        assert_eq!(
            estimate(model, 2, Some(two_hours)),
            "2 nodes × $360.00 + $36.00 = $756.00/h; for 2h ≈ $1,512.00"
        );
        assert_eq!(
            estimate(model, 1, None),
            "1 node × $360.00 + $36.00 = $396.00/h"
        );
        assert_eq!(
            estimate(model, 0, Some(two_hours)),
            "0 nodes: nothing is deployed, $0.00/h."
        );
    }

    #[test]
    fn money_warnings_are_sentences() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 20, 0, 0).unwrap();
        let soon = Utc.with_ymd_and_hms(2026, 12, 7, 18, 0, 0).unwrap();
        let rate = Rate::parse("1116.375").unwrap();
        assert_eq!(
            runs_out(Some(soon), rate, now, Tz::UTC),
            Some((
                "bad",
                "Money runs out tomorrow, Dec 7, 18:00, at the current rate of $1,116.38/h."
                    .to_owned()
            ))
        );
        assert_eq!(
            runs_out(Some(now + chrono::TimeDelta::days(10)), rate, now, Tz::UTC).map(|w| w.0),
            Some("warn")
        );
        assert_eq!(
            runs_out(Some(now + chrono::TimeDelta::days(40)), rate, now, Tz::UTC),
            None
        );
        assert_eq!(runs_out(None, rate, now, Tz::UTC), None);
    }

    #[test]
    fn messages_lose_their_rfc3339() {
        let zone = zone_of(Some("America/New_York"));
        assert_eq!(
            humanize("refused: the destroy at 2026-12-07T18:00:00Z is near", zone),
            "refused: the destroy at Dec 7, 2026, 13:00 is near"
        );
        assert_eq!(
            humanize("until 2026-12-07T18:00:00.123+01:00.", Tz::UTC),
            "until Dec 7, 2026, 17:00."
        );
        assert_eq!(
            humanize("id 12026-12-07 and 2026-12-07 — ok", Tz::UTC),
            "id 12026-12-07 and 2026-12-07 — ok"
        );
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
