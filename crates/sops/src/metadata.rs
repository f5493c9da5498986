//! The `sops` section of a file (sops' `stores/stores.go`, `metadata`):
//! the keys its data key is encrypted to, the rule that says which values
//! are encrypted, the MAC and `lastmodified`.

use regex::Regex;

use crate::value::Value;

/// sops' default rule: values under a key ending so stay in clear.
const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// The key types a sops file can hold, as its metadata names them. Only
/// age is read; the others are named in errors.
const OTHER_KEY_TYPES: &[&str] = &["pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];

/// An age key of the file: the recipient and the data key encrypted to it
/// (an ASCII-armored age file).
#[derive(Debug)]
pub(crate) struct AgeKey {
    pub recipient: String,
    pub enc: String,
}

/// One key group: sops decrypts the data key (or, with several groups,
/// its share) with any key of the group.
#[derive(Debug, Default)]
pub(crate) struct KeyGroup {
    pub age: Vec<AgeKey>,
    /// The other key types the group has (`pgp`, `kms`, …).
    pub others: Vec<&'static str>,
}

/// Which values are encrypted (sops' `shouldBeEncrypted`); exactly one
/// rule applies, `_unencrypted` suffix by default.
#[derive(Debug)]
pub(crate) enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

impl Rule {
    /// Whether sops encrypts the value at `path` (the keys from the top).
    /// A key anywhere on the path decides, as in sops.
    pub(crate) fn encrypts<S: AsRef<str>>(&self, path: &[S]) -> bool {
        let mut keys = path.iter().map(AsRef::as_ref);
        match self {
            Rule::UnencryptedSuffix(s) => !keys.any(|k| k.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => keys.any(|k| k.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !keys.any(|k| r.is_match(k)),
            Rule::EncryptedRegex(r) => keys.any(|k| r.is_match(k)),
        }
    }
}

/// What decryption needs of a file's `sops` section.
#[derive(Debug)]
pub(crate) struct Metadata {
    pub groups: Vec<KeyGroup>,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
    /// The MAC, an `ENC[…]` value (empty if the file has none).
    pub mac: String,
    /// `lastmodified` as the MAC's additional data: sops reads it as an
    /// RFC 3339 time and writes it back with Go's `time.RFC3339`.
    pub mac_additional_data: String,
}

impl Metadata {
    /// Every age recipient of the file, in order.
    pub(crate) fn age_recipients(&self) -> Vec<String> {
        self.groups
            .iter()
            .flat_map(|g| g.age.iter().map(|k| k.recipient.clone()))
            .collect()
    }
}

/// Reads the `sops` section. Errors are messages to prefix with the file.
pub(crate) fn parse(section: &Value) -> Result<Metadata, String> {
    let Value::Map(_) = section else {
        return Err("its `sops` entry is not a mapping".to_owned());
    };
    let text = |key: &str| -> Result<String, String> {
        match section.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Int(i)) => Ok(i.to_string()),
            Some(_) => Err(format!("sops.{key} is not a string")),
        }
    };

    let rules: Vec<(&str, String)> = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ]
    .into_iter()
    .map(|key| text(key).map(|value| (key, value)))
    .filter(|r| !matches!(r, Ok((_, v)) if v.is_empty()))
    .collect::<Result<_, _>>()?;
    let rule = match rules.as_slice() {
        [] => Rule::UnencryptedSuffix(DEFAULT_UNENCRYPTED_SUFFIX.to_owned()),
        [(key, value)] => rule(key, value)?,
        _ => {
            return Err(format!(
                "sops metadata has more than one of {}: sops allows one",
                rules.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ));
        }
    };

    let mac_only_encrypted = match section.get("mac_only_encrypted") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => parse_weak_bool(s)
            .ok_or_else(|| "sops.mac_only_encrypted is not a boolean".to_owned())?,
        Some(Value::Int(i)) => *i != 0,
        Some(_) => return Err("sops.mac_only_encrypted is not a boolean".to_owned()),
    };

    let last_modified = text("lastmodified")?;
    let mac_additional_data = rfc3339_as_go_writes_it(&last_modified).ok_or_else(|| {
        "sops.lastmodified is not an RFC 3339 time (it authenticates the MAC)".to_owned()
    })?;

    Ok(Metadata {
        groups: key_groups(section)?,
        rule,
        mac_only_encrypted,
        mac: text("mac")?,
        mac_additional_data,
    })
}

fn rule(key: &str, value: &str) -> Result<Rule, String> {
    let regex =
        || Regex::new(value).map_err(|e| format!("sops.{key} is not a regular expression: {e}"));
    Ok(match key {
        "unencrypted_suffix" => Rule::UnencryptedSuffix(value.to_owned()),
        "encrypted_suffix" => Rule::EncryptedSuffix(value.to_owned()),
        "unencrypted_regex" => Rule::UnencryptedRegex(regex()?),
        "encrypted_regex" => Rule::EncryptedRegex(regex()?),
        _ => {
            return Err(format!(
                "sops.{key} is not supported: which values it encrypts depends on the file's comments; \
                 use encrypted_regex or unencrypted_suffix in .sops.yaml instead"
            ));
        }
    })
}

/// mapstructure's weak reading of a string as a bool (Go's `ParseBool`,
/// and the empty string as false).
fn parse_weak_bool(s: &str) -> Option<bool> {
    match s {
        "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        _ => None,
    }
}

/// The key groups: the top-level key lists as one group if any is there,
/// else `key_groups` (sops' `internalKeygroups`).
fn key_groups(section: &Value) -> Result<Vec<KeyGroup>, String> {
    let top = group(section, "sops")?;
    if !top.age.is_empty() || !top.others.is_empty() {
        return Ok(vec![top]);
    }
    match section.get("key_groups") {
        None | Some(Value::Null) => Err("sops metadata lists no keys".to_owned()),
        Some(Value::List(groups)) if !groups.is_empty() => groups
            .iter()
            .enumerate()
            .map(|(i, g)| group(g, &format!("sops.key_groups[{i}]")))
            .collect(),
        Some(_) => {
            Err("sops metadata lists no keys (key_groups is not a list of groups)".to_owned())
        }
    }
}

fn group(map: &Value, at: &str) -> Result<KeyGroup, String> {
    let Value::Map(_) = map else {
        return Err(format!("{at} is not a mapping"));
    };
    let mut group = KeyGroup::default();
    for kind in OTHER_KEY_TYPES {
        if matches!(map.get(kind), Some(Value::List(keys)) if !keys.is_empty()) {
            group.others.push(kind);
        }
    }
    let keys = match map.get("age") {
        None | Some(Value::Null) => return Ok(group),
        Some(Value::List(keys)) => keys,
        Some(_) => return Err(format!("{at}.age is not a list")),
    };
    for (i, key) in keys.iter().enumerate() {
        let field = |name: &str| match key.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(format!("{at}.age[{i}].{name} is missing or not a string")),
        };
        group.age.push(AgeKey {
            recipient: field("recipient")?,
            enc: field("enc")?,
        });
    }
    Ok(group)
}

/// Go's `time.Parse(time.RFC3339, s)` then `Format(time.RFC3339)`: the
/// fraction of a second is dropped and a zero offset is written `Z`.
/// `None` where Go would not parse it.
pub(crate) fn rfc3339_as_go_writes_it(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !shape {
        return None;
    }
    let number = |range: std::ops::Range<usize>| s[range].parse::<u32>().ok();
    let (month, day, hour, minute, second) = (
        number(5..7)?,
        number(8..10)?,
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let zone = match rest {
        "Z" | "+00:00" | "-00:00" => "Z",
        _ => {
            let z = rest.as_bytes();
            let ok = z.len() == 6
                && (z[0] == b'+' || z[0] == b'-')
                && z[1..3].iter().all(u8::is_ascii_digit)
                && z[3] == b':'
                && z[4..6].iter().all(u8::is_ascii_digit)
                && rest[1..3].parse::<u32>().ok()? < 24
                && rest[4..6].parse::<u32>().ok()? < 60;
            if !ok {
                return None;
            }
            rest
        }
    };
    Some(format!("{}{zone}", &s[..19]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(yaml: &str) -> Value {
        serde_norway::from_str::<crate::value::Ordered>(yaml)
            .unwrap()
            .0
    }

    const KEYS: &str = "age:\n  - recipient: age1abc\n    enc: ENCKEY\nlastmodified: \"2024-05-06T07:08:09Z\"\nmac: ENC[x]\n";

    #[test]
    fn lastmodified_is_written_back_as_go_writes_rfc3339() {
        for (given, written) in [
            ("2024-05-06T07:08:09Z", "2024-05-06T07:08:09Z"),
            ("2024-05-06T07:08:09.123456Z", "2024-05-06T07:08:09Z"),
            ("2024-05-06T07:08:09+00:00", "2024-05-06T07:08:09Z"),
            ("2024-05-06T07:08:09.5+02:00", "2024-05-06T07:08:09+02:00"),
            ("2024-05-06T07:08:09-05:30", "2024-05-06T07:08:09-05:30"),
        ] {
            assert_eq!(
                rfc3339_as_go_writes_it(given).as_deref(),
                Some(written),
                "{given}"
            );
        }
        for bad in [
            "",
            "2024-05-06",
            "2024-05-06 07:08:09Z",
            "2024-05-06T07:08:09",
            "2024-13-06T07:08:09Z",
            "2024-05-06T07:08:09.Z",
            "2024-05-06T07:08:09+0200",
        ] {
            assert_eq!(rfc3339_as_go_writes_it(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_default_rule_is_the_unencrypted_suffix() {
        let m = parse(&section(KEYS)).unwrap();
        assert!(m.rule.encrypts(&["a", "b"]));
        assert!(!m.rule.encrypts(&["a_unencrypted", "b"]));
        assert!(!m.rule.encrypts(&["a", "b_unencrypted"]));
        assert_eq!(m.age_recipients(), ["age1abc"]);
        assert_eq!(m.mac_additional_data, "2024-05-06T07:08:09Z");
        assert!(!m.mac_only_encrypted);
    }

    #[test]
    fn each_rule_decides_by_any_key_on_the_path() {
        let m = parse(&section(&format!(
            "{KEYS}encrypted_regex: ^(password|token)$\n"
        )))
        .unwrap();
        assert!(m.rule.encrypts(&["db", "password"]));
        assert!(m.rule.encrypts(&["token", "x"]));
        assert!(!m.rule.encrypts(&["db", "user"]));
        let m = parse(&section(&format!("{KEYS}unencrypted_regex: ^public\n"))).unwrap();
        assert!(!m.rule.encrypts(&["public_x", "y"]));
        assert!(m.rule.encrypts(&["x", "y"]));
        let m = parse(&section(&format!("{KEYS}encrypted_suffix: _secret\n"))).unwrap();
        assert!(m.rule.encrypts(&["a_secret", "y"]));
        assert!(!m.rule.encrypts(&["a", "y"]));
    }

    #[test]
    fn two_rules_or_a_comment_rule_are_refused() {
        let e = parse(&section(&format!(
            "{KEYS}encrypted_regex: a\nunencrypted_suffix: _x\n"
        )))
        .unwrap_err();
        assert!(e.contains("more than one"), "{e}");
        let e = parse(&section(&format!("{KEYS}encrypted_comment_regex: sops\n"))).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn key_groups_are_read_when_no_top_level_keys() {
        let m = parse(&section(
            "key_groups:\n  - age:\n      - recipient: age1a\n        enc: X\n    pgp:\n      - fp: F\n  - age:\n      - recipient: age1b\n        enc: Y\nlastmodified: \"2024-05-06T07:08:09Z\"\nmac: M\n",
        ))
        .unwrap();
        assert_eq!(m.groups.len(), 2);
        assert_eq!(m.groups[0].others, ["pgp"]);
        assert_eq!(m.age_recipients(), ["age1a", "age1b"]);
        let e = parse(&section("lastmodified: \"2024-05-06T07:08:09Z\"\nmac: M\n")).unwrap_err();
        assert!(e.contains("no keys"), "{e}");
    }

    #[test]
    fn mac_only_encrypted_is_read_weakly_as_sops_does() {
        let m = parse(&section(&format!("{KEYS}mac_only_encrypted: true\n"))).unwrap();
        assert!(m.mac_only_encrypted);
        let m = parse(&section(&format!("{KEYS}mac_only_encrypted: \"false\"\n"))).unwrap();
        assert!(!m.mac_only_encrypted);
    }
}
