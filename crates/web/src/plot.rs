//! Plots drawn by the server as SVG: axes with units, a legend, a title
//! and a description for screen readers, a tooltip per mark, and a data
//! table beside each. Colours come from the stylesheet (classes `s0`…`s7`),
//! so they follow the light or dark theme; no inline style, no script.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;
/// Distinct series colours; more series reuse them.
const COLOURS: usize = 8;

/// How the time axis is labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeScale {
    Hours,
    Days,
    Months,
}

impl TimeScale {
    fn label(self, t: DateTime<Utc>, zone: Tz) -> String {
        let t = t.with_timezone(&zone);
        match self {
            TimeScale::Hours => t.format("%b %-d %H:%M").to_string(),
            TimeScale::Days => t.format("%b %d").to_string(),
            TimeScale::Months => t.format("%b %Y").to_string(),
        }
    }
}

/// One bar: a time span and its amount per series.
pub struct Bar {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// (series, amount) — amounts stack in this order.
    pub parts: Vec<(usize, f64)>,
    pub tooltip: String,
}

/// Reference marks of a plot of lines, each labelled: the present, and a
/// level (a threshold).
#[derive(Debug, Default)]
pub struct Guides {
    pub now: Option<DateTime<Utc>>,
    pub level: Option<(f64, String)>,
}

/// One line: a named series of points.
pub struct Line {
    pub name: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// A round step for about five ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let residual = rough / magnitude;
    let nice = if residual <= 1.0 {
        1.0
    } else if residual <= 2.0 {
        2.0
    } else if residual <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn dollars(v: f64, step: f64) -> String {
    let decimals = if step < 1.0 { 2 } else { 0 };
    let text = format!("{v:.decimals$}");
    let (whole, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 && c != '-' && !grouped.ends_with('-') {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("${grouped}.{f}"),
        None => format!("${grouped}"),
    }
}

struct Frame {
    t0: f64,
    t1: f64,
    top: f64,
    step: f64,
}

impl Frame {
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let span = (self.t1 - self.t0).max(1.0);
        LEFT + (t.timestamp() as f64 - self.t0) / span * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        HEIGHT - BOTTOM - v / self.top * (HEIGHT - TOP - BOTTOM)
    }

    /// The axes, the grid and their labels.
    fn axes(&self, scale: TimeScale, zone: Tz, y_label: &str) -> Markup {
        let ticks = (0..)
            .map(|i| f64::from(i) * self.step)
            .take_while(|v| *v <= self.top + self.step / 1000.0)
            .collect::<Vec<_>>();
        // Hours are long labels: fewer of them, so none overlaps.
        let xs = if scale == TimeScale::Hours { 4 } else { 6 };
        html! {
            g.grid {
                @for v in &ticks {
                    line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fmt(self.y(*v))) y2=(fmt(self.y(*v))) {}
                }
            }
            g.axis {
                line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(HEIGHT - BOTTOM) {}
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(HEIGHT - BOTTOM) y2=(HEIGHT - BOTTOM) {}
                @for v in &ticks {
                    text.ytick x=(LEFT - 6.0) y=(fmt(self.y(*v) + 4.0)) text-anchor="end" { (dollars(*v, self.step)) }
                }
                @for i in 0..=xs {
                    @let t = self.t0 + (self.t1 - self.t0) * f64::from(i) / f64::from(xs);
                    @let at = Utc.timestamp_opt(t as i64, 0).single().unwrap_or_default();
                    text class=(if i % 2 == 1 { "xtick minor" } else { "xtick" }) x=(fmt(self.x(at))) y=(HEIGHT - BOTTOM + 18.0)
                        text-anchor=(if i == 0 { "start" } else if i == xs { "end" } else { "middle" }) {
                        (scale.label(at, zone))
                    }
                }
                text.unit x=(LEFT) y=(HEIGHT - 6.0) { "time (" (zone.name()) ")" }
                @let middle = fmt((TOP + HEIGHT - BOTTOM) / 2.0);
                text.unit.y-title x="12" y=(middle) text-anchor="middle" transform={"rotate(-90 12 " (middle) ")"} { (y_label) }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

fn frame(t0: DateTime<Utc>, t1: DateTime<Utc>, max: f64) -> Frame {
    let step = nice_step(max);
    let top = ((max / step).ceil() * step).max(step);
    Frame {
        t0: t0.timestamp() as f64,
        t1: t1.timestamp() as f64,
        top,
        step,
    }
}

fn legend(names: &[String]) -> Markup {
    html! {
        ul.legend {
            @for (i, name) in names.iter().enumerate() {
                li { span class={"swatch s" (i % COLOURS)} aria-hidden="true" {} (name) }
            }
        }
    }
}

/// Stacked bars over time (amounts in dollars), one colour per series.
pub fn bars(
    id: &str,
    title: &str,
    description: &str,
    (scale, zone): (TimeScale, Tz),
    span: (DateTime<Utc>, DateTime<Utc>),
    series: &[String],
    bars: &[Bar],
) -> Markup {
    let max = bars
        .iter()
        .map(|b| b.parts.iter().map(|(_, v)| v).sum::<f64>())
        .fold(0.0, f64::max);
    let f = frame(span.0, span.1, max);
    let drawn = bars
        .iter()
        .filter(|b| b.parts.iter().any(|(_, v)| *v > 0.0))
        .count();
    let mut rects = Vec::new();
    for b in bars {
        let x = f.x(b.start);
        let w = (f.x(b.end) - x - 1.0).max(1.0);
        let mut base = 0.0;
        for (s, v) in b.parts.iter().filter(|(_, v)| *v > 0.0) {
            let top = f.y(base + v);
            let h = (f.y(base) - top).max(0.5);
            rects.push((format!("bar s{}", s % COLOURS), x, top, w, h, &b.tooltip));
            base += v;
        }
    }
    html! {
        figure.plot #(id) {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
                aria-labelledby=(format!("{id}-title {id}-desc")) data-bars=(drawn) data-series=(series.len()) {
                title #(format!("{id}-title")) { (title) }
                desc #(format!("{id}-desc")) { (description) }
                (f.axes(scale, zone, "cost (US dollars)"))
                g.marks {
                    @for (class, x, y, w, h, tooltip) in &rects {
                        rect class=(class) x=(fmt(*x)) y=(fmt(*y)) width=(fmt(*w)) height=(fmt(*h)) {
                            title { (tooltip) }
                        }
                    }
                }
                @if drawn == 0 {
                    text.empty x=(WIDTH / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" { "No costs in this period" }
                }
            }
            figcaption { (legend(series)) }
        }
    }
}

/// Lines over time (amounts in dollars, `y_label` naming them), one colour
/// per series, with the guides.
pub fn lines(
    id: &str,
    (title, description, y_label): (&str, &str, &str),
    (scale, zone): (TimeScale, Tz),
    series: &[Line],
    guides: &Guides,
) -> Markup {
    let all = series.iter().flat_map(|s| s.points.iter());
    let t0 = all.clone().map(|p| p.0).min().unwrap_or_else(Utc::now);
    let t1 = all.clone().map(|p| p.0).max().unwrap_or(t0);
    let level = guides.level.as_ref().map_or(0.0, |(v, _)| *v);
    let max = all.map(|p| p.1).fold(level, f64::max);
    let now = guides.now.filter(|n| (t0..=t1).contains(n));
    let f = frame(t0, t1, max);
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    let points: usize = series.iter().map(|s| s.points.len()).sum();
    html! {
        figure.plot #(id) {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
                aria-labelledby=(format!("{id}-title {id}-desc")) data-points=(points) data-series=(series.len()) {
                title #(format!("{id}-title")) { (title) }
                desc #(format!("{id}-desc")) { (description) }
                (f.axes(scale, zone, y_label))
                g.guides {
                    @if let Some(now) = now {
                        @let x = fmt(f.x(now));
                        line.guide data-guide="now" x1=(x) x2=(x) y1=(TOP) y2=(HEIGHT - BOTTOM) {}
                        text.guide x={(x)} dx="4" y=(TOP + 10.0) { "now" }
                    }
                    @if let Some((v, label)) = &guides.level {
                        @let y = fmt(f.y(*v));
                        line.guide.level data-guide="level" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
                        text.guide x=(WIDTH - RIGHT) y=(y) dy="-4" text-anchor="end" { (label) }
                    }
                }
                g.marks {
                    @for (i, s) in series.iter().enumerate() {
                        @let path = s.points.iter()
                            .map(|(t, v)| format!("{},{}", fmt(f.x(*t)), fmt(f.y(*v))))
                            .collect::<Vec<_>>().join(" ");
                        polyline class={"line s" (i % COLOURS)} points=(path) {
                            title { (s.name) }
                        }
                    }
                }
                @if points == 0 {
                    text.empty x=(WIDTH / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" { "Nothing to forecast" }
                }
            }
            figcaption { (legend(&names)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(10.0), 2.0);
        assert_eq!(nice_step(7.0), 2.0);
        assert_eq!(nice_step(1234.0), 500.0);
        assert_eq!(nice_step(0.03), 0.01);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn dollars_read_as_money() {
        assert_eq!(dollars(1500.0, 500.0), "$1,500");
        assert_eq!(dollars(0.5, 0.1), "$0.50");
        assert_eq!(dollars(0.0, 1.0), "$0");
    }

    #[test]
    fn a_plot_has_its_marks_and_labels() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let hour = chrono::TimeDelta::hours(1);
        let svg = bars(
            "costs",
            "Costs",
            "by hour",
            (TimeScale::Hours, Tz::Europe__Berlin),
            (t0, t0 + hour * 3),
            &["a".into(), "b".into()],
            &[Bar {
                start: t0,
                end: t0 + hour,
                parts: vec![(0, 2.0), (1, 3.0)],
                tooltip: "<script>".into(),
            }],
        )
        .into_string();
        assert!(svg.contains("data-bars=\"1\""), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("&lt;script&gt;"), "tooltips are escaped");
        assert!(!svg.contains("style="), "no inline style (CSP)");
        assert!(
            svg.contains("Nov 1 01:00"),
            "axes read in the viewer's zone: {svg}"
        );
        assert!(
            svg.contains("time (Europe/Berlin)"),
            "the axis names the zone"
        );
    }

    #[test]
    fn a_forecast_marks_now_and_the_floor() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let day = chrono::TimeDelta::days(1);
        let svg = lines(
            "forecast",
            ("Forecast", "ahead", "balance (US dollars)"),
            (TimeScale::Days, Tz::UTC),
            &[Line {
                name: "current".into(),
                points: vec![(t0, 100.0), (t0 + day * 10, 40.0)],
            }],
            &Guides {
                now: Some(t0 + day),
                level: Some((0.5, "shutdown floor $0.50".into())),
            },
        )
        .into_string();
        assert!(
            svg.contains(r#"data-guide="now""#) && svg.contains(">now<"),
            "{svg}"
        );
        assert!(
            svg.contains(r#"data-guide="level""#) && svg.contains("shutdown floor $0.50"),
            "{svg}"
        );
        assert!(
            svg.contains("balance (US dollars)") && svg.contains("rotate(-90"),
            "{svg}"
        );
        let outside = lines(
            "forecast",
            ("Forecast", "ahead", "balance (US dollars)"),
            (TimeScale::Days, Tz::UTC),
            &[Line {
                name: "current".into(),
                points: vec![(t0, 100.0), (t0 + day, 40.0)],
            }],
            &Guides {
                now: Some(t0 + day * 5),
                level: None,
            },
        )
        .into_string();
        assert!(
            !outside.contains("data-guide"),
            "a present outside the span is not drawn"
        );
    }
}
