//! Reads a team's committed secrets file with the server's age identity.
//!
//! [`decrypt`] takes a file's name and bytes and tells its kind by its
//! contents:
//!
//! - a **sops** file, YAML or JSON (sops' own formats, written by
//!   `sops --encrypt`): the data key is opened from the file's `age` key
//!   whose recipient the server holds, every `ENC[AES256_GCM,…]` value is
//!   decrypted with it (its key path authenticated as sops does), and the
//!   file's MAC is checked, so a file changed after sops wrote it (a value
//!   edited, swapped, reordered or removed, `lastmodified` edited) is
//!   refused;
//! - a plain **age** file, binary or ASCII-armored (`age -r …`,
//!   `age -a -r …`), whose plaintext is YAML (or JSON) with a mapping at
//!   its top;
//! - a file still locked by **git-crypt**: refused, saying so;
//! - anything else, plain YAML included: refused as not encrypted.
//!
//! What is read of sops: its YAML and JSON stores (not dotenv, INI or
//! binary), age keys only (other key types are named in errors, never
//! used), one key group (not Shamir's several), the encryption rules
//! `unencrypted_suffix` (and its default `_unencrypted`),
//! `encrypted_suffix`, `unencrypted_regex`, `encrypted_regex` and
//! `mac_only_encrypted`; not the comment rules (`*_comment_regex`), which
//! depend on comments this reader does not keep. Comments, which sops
//! encrypts too, are dropped. Regular expressions are Rust's `regex`,
//! which reads the expressions sops' (Go's RE2) does alike but for rare
//! syntax.
//!
//! The library is pure: no file is read nor anything sent; errors name the
//! file and a value's key path, never a value (see [`Error`]).

mod enc;
mod error;
mod metadata;
mod value;

use std::io::Read as _;

use sha2::{Digest as _, Sha512};
use zeroize::Zeroizing;

pub use error::Error;
pub use value::{Document, Value};

use enc::Cipher;
use metadata::Metadata;
use value::Ordered;

/// The first bytes of a file git-crypt encrypted.
const GIT_CRYPT_HEADER: &[u8] = b"\0GITCRYPT\0";
/// The first line of a binary age file.
const AGE_HEADER: &[u8] = b"age-encryption.org/";
/// The first line of an ASCII-armored age file.
const AGE_ARMOR_HEADER: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
/// What sops' MAC starts from with `mac_only_encrypted` (sops'
/// `MACOnlyEncryptedInitialization`: the SHA-256 of `sops`).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The age identity whose secret is `seed` (32 bytes): the server's,
/// derived from its secrets key. Its recipient (`to_public()`) is what
/// teams list in `.sops.yaml`.
pub fn identity(seed: &[u8; 32]) -> age::x25519::Identity {
    // age reads identities only as text: Bech32 with this prefix.
    let hrp = bech32::Hrp::parse("age-secret-key-").expect("a valid human-readable part");
    let text = zeroize::Zeroizing::new(
        bech32::encode::<bech32::Bech32>(hrp, seed).expect("32 bytes always encode"),
    );
    // Written as age-keygen writes it: upper case.
    zeroize::Zeroizing::new(text.to_uppercase())
        .parse()
        .expect("a Bech32 age secret key of 32 bytes always parses")
}

/// Decrypts the secrets file `file_name` (used in errors, and `.json`
/// read as JSON) whose bytes are `contents`, with any of `identities`
/// (the server's age identities: `age::x25519::Identity` or any other
/// [`age::Identity`]).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let identity: age::x25519::Identity = "AGE-SECRET-KEY-1…".parse()?;
/// let contents = std::fs::read("secrets/prod.yaml")?;
/// let secrets = slipway_sops::decrypt("secrets/prod.yaml", &contents, &[&identity])?;
/// let password = secrets.get("hub").and_then(|hub| hub.get("password"));
/// # Ok(()) }
/// ```
pub fn decrypt(
    file_name: &str,
    contents: &[u8],
    identities: &[&dyn age::Identity],
) -> Result<Document, Error> {
    let file = || file_name.to_owned();
    if contents.starts_with(GIT_CRYPT_HEADER) {
        return Err(Error::GitCrypt { file: file() });
    }
    if contents.starts_with(AGE_HEADER) || contents.trim_ascii_start().starts_with(AGE_ARMOR_HEADER)
    {
        let plaintext = age_decrypt(contents, identities).map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::AgeNoMatchingIdentity { file: file() },
            other => Error::Age {
                file: file(),
                message: other.to_string(),
            },
        })?;
        return parse_mapping(file_name, &plaintext).map_err(|message| Error::Syntax {
            file: file(),
            message: format!("decrypted with age, but its plaintext {message}"),
        });
    }
    let mut document = parse_mapping(file_name, contents).map_err(|message| {
        if contents.contains(&0) {
            Error::Syntax {
                file: file(),
                message: "neither a sops, age nor git-crypt file (binary contents)".to_owned(),
            }
        } else {
            Error::Syntax {
                file: file(),
                message,
            }
        }
    })?;
    let Some(section) = document.remove("sops") else {
        return Err(Error::NotEncrypted { file: file() });
    };
    let metadata = metadata::parse(&section).map_err(|message| Error::Metadata {
        file: file(),
        message,
    })?;
    decrypt_sops(file_name, &mut document, &metadata, identities)?;
    Ok(document)
}

/// Reads YAML or JSON with a mapping at its top. JSON for a `.json` file
/// (sops' JSON store), else YAML, which also reads JSON written by hand.
/// A [`Document`] from the start, so that whatever is in it is zeroized
/// however decryption ends.
fn parse_mapping(file_name: &str, contents: &[u8]) -> Result<Document, String> {
    let text = std::str::from_utf8(contents).map_err(|_| "is not UTF-8 text".to_owned())?;
    let top = if file_name.ends_with(".json") {
        serde_json::from_str::<Ordered>(text).map_err(|e| format!("is not JSON: {e}"))?
    } else {
        serde_norway::from_str::<Ordered>(text).map_err(|e| format!("is not YAML: {e}"))?
    };
    match top.0 {
        Value::Map(entries) => Ok(Document::new(entries)),
        mut other => {
            zeroize::Zeroize::zeroize(&mut other);
            Err("has no mapping at its top".to_owned())
        }
    }
}

/// Decrypts a whole age file (binary or armored) with any of `identities`.
fn age_decrypt(
    ciphertext: &[u8],
    identities: &[&dyn age::Identity],
) -> Result<Zeroizing<Vec<u8>>, age::DecryptError> {
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(ciphertext))?;
    let mut reader = decryptor.decrypt(identities.iter().map(|i| *i as &dyn age::Identity))?;
    let mut plaintext = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plaintext)?;
    Ok(plaintext)
}

/// Opens the data key from the file's age keys (any that an identity
/// opens, as sops tries each), then decrypts the tree in place and checks
/// the MAC.
fn decrypt_sops(
    file_name: &str,
    document: &mut Document,
    metadata: &Metadata,
    identities: &[&dyn age::Identity],
) -> Result<(), Error> {
    let file = || file_name.to_owned();
    if metadata.groups.len() > 1 {
        return Err(Error::Unsupported {
            file: file(),
            what: format!(
                "{} key groups (Shamir's secret sharing): put the server's age recipient in a single key group",
                metadata.groups.len()
            ),
        });
    }
    let group = &metadata.groups[0];
    let mut age_error = None;
    let mut data_key = None;
    for key in &group.age {
        match age_decrypt(key.enc.as_bytes(), identities) {
            Ok(plain) => {
                data_key = Some(plain);
                break;
            }
            Err(age::DecryptError::NoMatchingKeys) => {}
            Err(e) => age_error = Some((key.recipient.clone(), e)),
        }
    }
    let data_key = match (data_key, age_error) {
        (Some(key), _) => key,
        (None, Some((recipient, e))) => {
            return Err(Error::Age {
                file: file(),
                message: format!("the data key encrypted to {recipient} does not decrypt: {e}"),
            });
        }
        (None, None) => {
            return Err(Error::NoMatchingRecipient {
                file: file(),
                recipients: metadata.age_recipients(),
                other_key_types: group.others.iter().map(|k| (*k).to_owned()).collect(),
            });
        }
    };
    let data_key: Zeroizing<[u8; 32]> = Zeroizing::new(data_key.as_slice().try_into().map_err(
        |_| Error::Metadata {
            file: file(),
            message: format!("its data key is {} bytes, not 32", data_key.len()),
        },
    )?);
    let cipher = Cipher::new(&data_key);

    let mut walk = Walk {
        file: file_name,
        cipher: &cipher,
        metadata,
        mac: Sha512::new(),
    };
    if metadata.mac_only_encrypted {
        walk.mac.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut path = Vec::new();
    for (key, value) in document.entries_mut() {
        path.push(key.clone());
        walk.value(value, &mut path, key)?;
        path.pop();
    }
    let computed = hex_upper(&walk.mac.finalize());

    let mac_error = |reason: &str| Error::Mac {
        file: file(),
        reason: reason.to_owned(),
    };
    if metadata.mac.is_empty() {
        return Err(mac_error("the file has no MAC (sops.mac)"));
    }
    let stored = cipher
        .decrypt(&metadata.mac, &metadata.mac_additional_data)
        .map_err(|_| mac_error("its MAC does not decrypt with its lastmodified"))?;
    if stored.value.as_str() != Some(computed.as_str()) {
        return Err(mac_error("its MAC does not match its values"));
    }
    Ok(())
}

/// sops' walk over the tree (`walkBranch`, `walkSlice`, `walkValue`) with
/// its `Decrypt` at each leaf: the MAC takes every leaf in order (or, with
/// `mac_only_encrypted`, the encrypted ones).
struct Walk<'a> {
    file: &'a str,
    cipher: &'a Cipher,
    metadata: &'a Metadata,
    mac: Sha512,
}

impl Walk<'_> {
    /// `path` is sops' (the keys, which a list item shares with its list);
    /// `shown` is the path errors show (`a.b[2].c`).
    fn value(
        &mut self,
        value: &mut Value,
        path: &mut Vec<String>,
        shown: &str,
    ) -> Result<(), Error> {
        match value {
            Value::Map(entries) => {
                for (key, value) in entries {
                    path.push(key.clone());
                    self.value(value, path, &format!("{shown}.{key}"))?;
                    path.pop();
                }
            }
            Value::List(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, path, &format!("{shown}[{i}]"))?;
                }
            }
            // sops leaves null as it is, out of the MAC.
            Value::Null => {}
            leaf => {
                let encrypted = self.metadata.rule.encrypts(path);
                if encrypted {
                    let error = |message: String| Error::Value {
                        file: self.file.to_owned(),
                        path: shown.to_owned(),
                        message,
                    };
                    let Value::String(text) = leaf else {
                        return Err(error(
                            "is not encrypted, though sops' rules for this file say it must be"
                                .to_owned(),
                        ));
                    };
                    let plain = self
                        .cipher
                        .decrypt(text, &enc::additional_data(path))
                        .map_err(|e| error(e.to_string()))?;
                    self.mac.update(&plain.mac_bytes);
                    *leaf = plain.value;
                } else if !self.metadata.mac_only_encrypted {
                    self.mac.update(enc::mac_bytes(leaf));
                }
            }
        }
        Ok(())
    }
}

/// Go's `fmt.Sprintf("%X", …)`.
fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_only_encrypted_start_is_the_sha256_of_sops() {
        assert_eq!(&sha2::Sha256::digest(b"sops")[..], MAC_ONLY_ENCRYPTED_INIT);
    }

    #[test]
    fn the_mac_is_written_as_upper_case_hex() {
        assert_eq!(hex_upper(&[0x0a, 0xff, 0x10]), "0AFF10");
    }
}
