//! Durations as users write them: `90s`, `10m`, `2h`, `1h30m`, `7d`.

use std::time::Duration;

use crate::{Timestamp, ValidationError};

/// Whole minutes for people: "1 minute", "5 minutes".
pub fn minutes_in_words(span: chrono::TimeDelta) -> String {
    let minutes = span.num_minutes();
    format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
}

/// Parses a user-written duration for `field`.
pub fn parse_duration(field: &str, value: &str) -> Result<Duration, ValidationError> {
    humantime::parse_duration(value.trim()).map_err(|e| {
        ValidationError::new(
            field,
            format!("must be a duration such as 90s, 10m or 2h ({e}; got {value:?})"),
        )
    })
}

/// `now` plus a user-given `duration` for `field`: checked, so a duration
/// beyond any representable time is a refusal naming the field, never an
/// overflow.
pub fn after(
    field: &str,
    now: Timestamp,
    duration: Duration,
) -> Result<Timestamp, ValidationError> {
    chrono::TimeDelta::from_std(duration)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| {
            ValidationError::new(
                field,
                format!("is too long (got {})", format_duration(duration)),
            )
        })
}

/// Formats a duration the way [`parse_duration`] reads it back, in days,
/// hours, minutes and seconds (`366d`, `1d 12h`, `90s` is `1m 30s`).
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let parts: Vec<String> = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, unit)| format!("{n}{unit}"))
    .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// Serde for a `chrono::TimeDelta` written the way users write durations
/// (`15m`, `24h`, `12h`): `#[serde(with = "crate::duration::time_delta")]`.
/// Negative durations are written as `0s`.
pub mod time_delta {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `value` as `1h 30m`.
    pub fn serialize<S: Serializer>(value: &TimeDelta, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&super::format_duration(value.to_std().unwrap_or_default()))
    }

    /// Reads `90s`, `15m`, `24h`, `1h30m`, `7d`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TimeDelta, D::Error> {
        let text = String::deserialize(deserializer)?;
        let duration = humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "must be a duration such as 90s, 10m or 2h ({e}; got {text:?})"
            ))
        })?;
        TimeDelta::from_std(duration)
            .map_err(|_| serde::de::Error::custom(format!("duration {text:?} is too long")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_meets_a_time_without_overflow() {
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        assert_eq!(
            after("ttl", now, Duration::from_secs(90)).unwrap(),
            now + chrono::TimeDelta::seconds(90)
        );
        let huge = parse_duration("ttl", "1000000years").unwrap();
        let refused = after("ttl", now, huge).unwrap_err();
        assert_eq!(refused.field, "ttl");
        assert!(refused.rule.starts_with("is too long"), "{refused}");
        assert!(after("ttl", now, Duration::MAX).is_err());
    }

    #[test]
    fn reads_the_documented_forms() {
        assert_eq!(
            parse_duration("ttl", "90s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("ttl", "10m").unwrap(),
            Duration::from_secs(600)
        );
        assert_eq!(
            parse_duration("ttl", "2h").unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            parse_duration("ttl", "1h30m").unwrap(),
            Duration::from_secs(5400)
        );
    }

    #[test]
    fn names_the_field_on_error() {
        let err = parse_duration("ttl", "soon").unwrap_err();
        assert_eq!(err.field, "ttl");
        assert!(err.rule.contains("90s"));
        assert!(parse_duration("wait", "-5m").is_err());
    }

    #[test]
    fn time_deltas_read_and_write_as_durations() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Doc {
            #[serde(with = "time_delta")]
            ttl: chrono::TimeDelta,
        }
        let doc: Doc = serde_json::from_str(r#"{"ttl": "1h30m"}"#).unwrap();
        assert_eq!(doc.ttl, chrono::TimeDelta::minutes(90));
        assert_eq!(serde_json::to_string(&doc).unwrap(), r#"{"ttl":"1h 30m"}"#);
        assert!(serde_json::from_str::<Doc>(r#"{"ttl": "soon"}"#).is_err());
        assert!(serde_json::from_str::<Doc>(r#"{"ttl": 5}"#).is_err());
    }

    #[test]
    fn formats_round_trip() {
        for secs in [1, 59, 90, 3600, 86_400 + 61] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration("x", &format_duration(d)).unwrap(), d);
        }
    }
}
