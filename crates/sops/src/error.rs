//! Why a secrets file could not be read. Every message starts with the
//! file's name and, for a value, its key path; none holds a secret.

/// Why [`decrypt`](crate::decrypt) refused a file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is still encrypted by git-crypt (the repository is locked).
    #[error(
        "{file}: still encrypted by git-crypt: unlock the repository (`git-crypt unlock`) \
         or convert the file to sops"
    )]
    GitCrypt {
        /// The file's name.
        file: String,
    },

    /// The file is plain YAML or JSON, not encrypted.
    #[error(
        "{file}: not encrypted: secrets must be sops or age files \
         (encrypt it with `sops --encrypt --in-place {file}`)"
    )]
    NotEncrypted {
        /// The file's name.
        file: String,
    },

    /// The file (or an age file's plaintext) is neither YAML nor JSON
    /// with a mapping at its top, or uses what sops' stores refuse.
    #[error("{file}: {message}")]
    Syntax {
        /// The file's name.
        file: String,
        /// What is wrong, with a line and column where the parser gave one.
        message: String,
    },

    /// None of the server's identities opens the sops file's data key.
    #[error("{}", no_recipient(.file, .recipients, .other_key_types))]
    NoMatchingRecipient {
        /// The file's name.
        file: String,
        /// The file's age recipients, in order.
        recipients: Vec<String>,
        /// The key types other than age the file is encrypted to (`pgp`,
        /// `kms`, …), which this crate does not use.
        other_key_types: Vec<String>,
    },

    /// A plain age file is not encrypted to any of the server's identities
    /// (an age header does not say to whom it is).
    #[error(
        "{file}: not encrypted to this server's age identity: encrypt it to the server's \
         recipient (`age -r <recipient>`), or convert it to sops"
    )]
    AgeNoMatchingIdentity {
        /// The file's name.
        file: String,
    },

    /// The `sops` section is malformed.
    #[error("{file}: {message}")]
    Metadata {
        /// The file's name.
        file: String,
        /// What is wrong with it.
        message: String,
    },

    /// The file uses a sops feature this crate does not read.
    #[error("{file}: not supported: {what}")]
    Unsupported {
        /// The file's name.
        file: String,
        /// The feature.
        what: String,
    },

    /// A value could not be decrypted or read back.
    #[error("{file}: {path}: {message}")]
    Value {
        /// The file's name.
        file: String,
        /// The value's key path (`hub.password`, `users[2].token`).
        path: String,
        /// What is wrong (never the value).
        message: String,
    },

    /// The file's MAC does not match its contents: something was changed,
    /// reordered or removed after sops encrypted it.
    #[error(
        "{file}: integrity check failed: {reason}; the file was changed after sops wrote it \
         (a value or key changed, reordered or removed, or lastmodified edited)"
    )]
    Mac {
        /// The file's name.
        file: String,
        /// Which check failed.
        reason: String,
    },

    /// age could not decrypt the file or its data key, for another reason
    /// than a missing identity.
    #[error("{file}: age: {message}")]
    Age {
        /// The file's name.
        file: String,
        /// age's message.
        message: String,
    },
}

fn no_recipient(file: &str, recipients: &[String], other_key_types: &[String]) -> String {
    let mut message = format!("{file}: not encrypted to this server's age identity");
    if recipients.is_empty() {
        message.push_str("; it has no age recipient");
    } else {
        message.push_str(&format!(
            "; its age recipients are {}",
            recipients.join(", ")
        ));
    }
    if !other_key_types.is_empty() {
        message.push_str(&format!(
            " (and {} keys, which the server does not use)",
            other_key_types.join(", ")
        ));
    }
    message.push_str(&format!(
        ": add the server's age recipient to .sops.yaml and run `sops updatekeys {file}`"
    ));
    message
}
