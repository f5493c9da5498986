//! sops' encrypted values, `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`
//! (sops' `aes/cipher.go`): AES-256-GCM under the file's data key with a
//! 32-byte IV, the value's tree path as additional data, and the type the
//! plaintext is read back as.

use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::U32;
use aes_gcm::aes::Aes256;
use aes_gcm::{AeadInOut, AesGcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::value::Value;

/// The length of sops' IVs (`nonceSize` in `aes/cipher.go`).
const IV_LEN: usize = 32;
/// The length of a GCM tag.
const TAG_LEN: usize = 16;

/// AES-256-GCM with sops' 32-byte nonces.
type SopsGcm = AesGcm<Aes256, U32>;

/// The data key of a sops file, ready to decrypt its values.
pub(crate) struct Cipher(SopsGcm);

/// What an `ENC[…]` value says, before decryption.
#[derive(Debug, PartialEq)]
pub(crate) struct Encrypted {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub kind: String,
}

/// Why a value could not be decrypted. Never holds the value.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum ValueError {
    #[error("not an ENC[AES256_GCM,…] value ({0})")]
    Malformed(&'static str),
    #[error(
        "does not decrypt under its key path: the value was changed, or moved from another key"
    )]
    Authentication,
    #[error("decrypts to something that is not a valid {0}")]
    BadPlaintext(&'static str),
    #[error("has the unknown type `{0}`")]
    UnknownType(String),
}

/// Parses an `ENC[…]` value (sops' `encre` and `parse`, stricter: the
/// whole string must be the value).
pub(crate) fn parse(value: &str) -> Result<Encrypted, ValueError> {
    let inner = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or(ValueError::Malformed("no ENC[AES256_GCM,…] around it"))?;
    let mut fields = inner.split(',');
    let mut field = |name: &'static str| {
        fields
            .next()
            .and_then(|f| f.strip_prefix(name))
            .filter(|f| !f.is_empty())
            .ok_or(ValueError::Malformed(name))
    };
    let decode = |text: &str, what: &'static str| {
        STANDARD
            .decode(text)
            .map_err(|_| ValueError::Malformed(what))
    };
    let data = decode(field("data:")?, "data is not base64")?;
    let iv = decode(field("iv:")?, "iv is not base64")?;
    let tag = decode(field("tag:")?, "tag is not base64")?;
    let kind = field("type:")?.to_owned();
    if fields.next().is_some() {
        return Err(ValueError::Malformed("fields after type"));
    }
    if iv.len() != IV_LEN {
        return Err(ValueError::Malformed("iv is not 32 bytes"));
    }
    if tag.len() != TAG_LEN {
        return Err(ValueError::Malformed("tag is not 16 bytes"));
    }
    Ok(Encrypted {
        data,
        iv,
        tag,
        kind,
    })
}

/// The additional data sops authenticates a value with: the keys from the
/// top of the tree to the value, each followed by `:` (a list adds
/// nothing: its items share their list's path). The empty path gives `""`
/// … never used: every value is under a key.
pub(crate) fn additional_data<S: AsRef<str>>(path: &[S]) -> String {
    let mut aad = String::new();
    for key in path {
        aad.push_str(key.as_ref());
        aad.push(':');
    }
    aad
}

/// A decrypted value: what it is in the tree, and the bytes sops' MAC
/// takes of it (sops' `ToBytes` of the value read back by its type).
pub(crate) struct Plain {
    pub value: Value,
    pub mac_bytes: Zeroizing<Vec<u8>>,
}

impl Cipher {
    pub(crate) fn new(data_key: &[u8; 32]) -> Self {
        Cipher(SopsGcm::new(&Array::from(*data_key)))
    }

    /// Decrypts an `ENC[…]` value authenticated by `aad`. sops leaves an
    /// empty string as it is, and so does this.
    pub(crate) fn decrypt(&self, value: &str, aad: &str) -> Result<Plain, ValueError> {
        if value.is_empty() {
            return Ok(Plain {
                value: Value::String(String::new()),
                mac_bytes: Zeroizing::new(Vec::new()),
            });
        }
        let encrypted = parse(value)?;
        let bytes = self.open(&encrypted, aad)?;
        typed(&encrypted.kind, bytes)
    }

    fn open(&self, encrypted: &Encrypted, aad: &str) -> Result<Zeroizing<Vec<u8>>, ValueError> {
        let mut buffer = Zeroizing::new(encrypted.data.clone());
        let iv = Array::try_from(encrypted.iv.as_slice())
            .map_err(|_| ValueError::Malformed("iv is not 32 bytes"))?;
        let tag = Array::try_from(encrypted.tag.as_slice())
            .map_err(|_| ValueError::Malformed("tag is not 16 bytes"))?;
        self.0
            .decrypt_inout_detached(&iv, aad.as_bytes(), buffer.as_mut_slice().into(), &tag)
            .map_err(|_| ValueError::Authentication)?;
        Ok(buffer)
    }

    /// Encrypts as sops does (for tests: the real files come from sops).
    #[cfg(test)]
    pub(crate) fn encrypt(&self, plain: &[u8], kind: &str, iv: [u8; IV_LEN], aad: &str) -> String {
        let mut buffer = plain.to_vec();
        let tag = self
            .0
            .encrypt_inout_detached(
                &Array::from(iv),
                aad.as_bytes(),
                buffer.as_mut_slice().into(),
            )
            .unwrap();
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
            STANDARD.encode(&buffer),
            STANDARD.encode(iv),
            STANDARD.encode(tag)
        )
    }
}

/// Reads decrypted bytes back by their sops type, as `aes/cipher.go`'s
/// `Decrypt` does, and gives the bytes sops' MAC takes of the result.
fn typed(kind: &str, bytes: Zeroizing<Vec<u8>>) -> Result<Plain, ValueError> {
    let text = || std::str::from_utf8(&bytes).map_err(|_| ValueError::BadPlaintext("string"));
    let value = match kind {
        // A string, or a timestamp (sops' `time`, RFC 3339 text, which
        // only its own stores write) kept as its text.
        "str" | "time" => Value::String(text()?.to_owned()),
        // Bytes come back as a string (the YAML and JSON stores have no
        // other place for them).
        "bytes" => Value::String(
            std::str::from_utf8(&bytes)
                .map_err(|_| ValueError::BadPlaintext("UTF-8 string (binary value)"))?
                .to_owned(),
        ),
        "int" => Value::Int(
            text()?
                .parse::<i64>()
                .map_err(|_| ValueError::BadPlaintext("int"))?,
        ),
        "float" => Value::Float(parse_go_float(text()?).ok_or(ValueError::BadPlaintext("float"))?),
        "bool" => Value::Bool(parse_go_bool(text()?).ok_or(ValueError::BadPlaintext("bool"))?),
        // sops encrypts YAML comments too, but only in comment position,
        // where this parser never sees them.
        "comment" => return Err(ValueError::BadPlaintext("value (it is a comment)")),
        other => return Err(ValueError::UnknownType(other.to_owned())),
    };
    let mac_bytes = match kind {
        "str" | "time" | "bytes" => bytes,
        _ => mac_bytes(&value),
    };
    Ok(Plain { value, mac_bytes })
}

/// The bytes sops' MAC takes of a leaf (sops' `ToBytes`): a string as it
/// is, an integer in decimal, a float in Go's shortest non-exponent form
/// (`strconv.FormatFloat(f, 'f', -1, 64)`), a bool as `True`/`False`.
/// `null` is not a leaf to sops and has none.
pub(crate) fn mac_bytes(value: &Value) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Float(f) => format_go_float(*f).into_bytes(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Null | Value::List(_) | Value::Map(_) => Vec::new(),
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: Rust's `Display` for `f64`
/// is the same shortest round-trip digits without an exponent; only the
/// infinities and NaN are spelt differently.
pub(crate) fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f == f64::INFINITY {
        "+Inf".to_owned()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        f.to_string()
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for what sops writes (decimal, with an
/// optional exponent, and Go's spellings of infinity and NaN).
fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" | "+Infinity" | "Infinity" => Some(f64::INFINITY),
        "-Inf" | "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ if s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn additional_data_is_the_keys_each_followed_by_a_colon() {
        assert_eq!(additional_data(&["hub", "password"]), "hub:password:");
        assert_eq!(additional_data(&["a"]), "a:");
        assert_eq!(additional_data::<&str>(&[]), "");
        // Keys are taken as they are, colons and all.
        assert_eq!(additional_data(&["a:b", "c"]), "a:b:c:");
    }

    // The layout sops' `Encrypt` writes, field by field (whole files from
    // the real sops are the integration tests').
    #[test]
    fn parses_the_fields_sops_writes() {
        let cipher = Cipher::new(&KEY);
        let enc = cipher.encrypt(b"hunter2", "str", [1; 32], "pass:");
        let parsed = parse(&enc).unwrap();
        assert_eq!(parsed.iv, [1; 32]);
        assert_eq!(parsed.tag.len(), 16);
        assert_eq!(parsed.data.len(), 7);
        assert_eq!(parsed.kind, "str");
    }

    #[test]
    fn decrypts_each_type_and_takes_the_mac_bytes_sops_takes() {
        let cipher = Cipher::new(&KEY);
        let cases: &[(&[u8], &str, Value, &[u8])] = &[
            (
                b"hunter2",
                "str",
                Value::String("hunter2".into()),
                b"hunter2",
            ),
            (b"5432", "int", Value::Int(5432), b"5432"),
            (b"-17", "int", Value::Int(-17), b"-17"),
            (b"1.5", "float", Value::Float(1.5), b"1.5"),
            (
                b"1e+21",
                "float",
                Value::Float(1e21),
                b"1000000000000000000000",
            ),
            (b"True", "bool", Value::Bool(true), b"True"),
            (b"false", "bool", Value::Bool(false), b"False"),
            (
                b"2024-01-02T03:04:05Z",
                "time",
                Value::String("2024-01-02T03:04:05Z".into()),
                b"2024-01-02T03:04:05Z",
            ),
        ];
        for (plain, kind, value, mac) in cases {
            let enc = cipher.encrypt(plain, kind, [9; 32], "a:b:");
            let got = cipher.decrypt(&enc, "a:b:").unwrap();
            assert_eq!(&got.value, value, "{kind}");
            assert_eq!(got.mac_bytes.as_slice(), *mac, "{kind}");
        }
    }

    #[test]
    fn another_path_or_a_changed_byte_does_not_authenticate() {
        let cipher = Cipher::new(&KEY);
        let enc = cipher.encrypt(b"hunter2", "str", [3; 32], "hub:password:");
        assert_eq!(
            cipher.decrypt(&enc, "hub:token:").err(),
            Some(ValueError::Authentication)
        );
        let mut data = parse(&enc).unwrap().data;
        data[0] ^= 1;
        let changed = format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]",
            STANDARD.encode(&data),
            STANDARD.encode([3; 32]),
            STANDARD.encode(parse(&enc).unwrap().tag)
        );
        assert_eq!(
            cipher.decrypt(&changed, "hub:password:").err(),
            Some(ValueError::Authentication)
        );
        let other = Cipher::new(&[8; 32]);
        assert_eq!(
            other.decrypt(&enc, "hub:password:").err(),
            Some(ValueError::Authentication)
        );
    }

    #[test]
    fn the_type_is_authenticated_only_by_how_it_reads_back() {
        let cipher = Cipher::new(&KEY);
        let enc = cipher.encrypt(b"hunter2", "int", [3; 32], "x:");
        assert_eq!(
            cipher.decrypt(&enc, "x:").err(),
            Some(ValueError::BadPlaintext("int"))
        );
        let enc = cipher.encrypt(b"x", "uuid", [3; 32], "x:");
        assert_eq!(
            cipher.decrypt(&enc, "x:").err(),
            Some(ValueError::UnknownType("uuid".into()))
        );
    }

    #[test]
    fn an_empty_string_stays_empty() {
        let got = Cipher::new(&KEY).decrypt("", "x:").unwrap();
        assert_eq!(got.value, Value::String(String::new()));
        assert!(got.mac_bytes.is_empty());
    }

    #[test]
    fn malformed_values_are_refused() {
        let iv = STANDARD.encode([0; 32]);
        let tag = STANDARD.encode([0; 16]);
        for bad in [
            "hunter2".to_owned(),
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]".to_owned(),
            format!("ENC[AES256_GCM,data:AA==,iv:{iv},tag:{tag},type:str"),
            format!("ENC[AES256_GCM,data:,iv:{iv},tag:{tag},type:str]"),
            format!("ENC[AES256_GCM,data:!!,iv:{iv},tag:{tag},type:str]"),
            format!("ENC[AES256_GCM,iv:{iv},data:AA==,tag:{tag},type:str]"),
            format!("ENC[AES256_GCM,data:AA==,iv:{iv},tag:{tag},type:str,x:y]"),
            format!("ENC[AES256_GCM,data:AA==,iv:{iv},tag:{tag},type:]"),
            format!("ENC[AES128_GCM,data:AA==,iv:{iv},tag:{tag},type:str]"),
        ] {
            assert!(
                matches!(parse(&bad), Err(ValueError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn floats_are_written_as_go_writes_them() {
        for (f, go) in [
            (0.1, "0.1"),
            (1.0, "1"),
            (-0.0, "-0"),
            (1234.56789, "1234.56789"),
            (1e-7, "0.0000001"),
            (1e21, "1000000000000000000000"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_go_float(f), go);
        }
    }

    proptest! {
        #[test]
        fn garbage_is_refused_without_panicking(s in ".*") {
            let _ = parse(&s);
            let _ = Cipher::new(&KEY).decrypt(&s, "k:");
        }

        #[test]
        fn enc_like_garbage_is_refused_without_panicking(
            data in "[A-Za-z0-9+/=,:\\]]{0,40}",
            iv in "[A-Za-z0-9+/=,:]{0,60}",
            kind in "[a-z:,\\]]{0,8}",
        ) {
            let s = format!("ENC[AES256_GCM,data:{data},iv:{iv},tag:AAAAAAAAAAAAAAAAAAAAAA==,type:{kind}]");
            prop_assert!(Cipher::new(&KEY).decrypt(&s, "k:").is_err());
        }

        #[test]
        fn strings_round_trip(s in any::<String>(), path in proptest::collection::vec("[a-z_:.]{1,8}", 1..4), iv in any::<[u8; 32]>()) {
            prop_assume!(!s.is_empty());
            let cipher = Cipher::new(&KEY);
            let aad = additional_data(&path);
            let enc = cipher.encrypt(s.as_bytes(), "str", iv, &aad);
            let got = cipher.decrypt(&enc, &aad).unwrap();
            prop_assert_eq!(got.value, Value::String(s.clone()));
            prop_assert_eq!(got.mac_bytes.as_slice(), s.as_bytes());
        }
    }
}
