//! Every rule the check enforces, in one place: the crates' layers and the
//! imports the architecture forbids (ARCHITECTURE.md, "Code map" and
//! "Invariants"). The module rule — no module imports one that imports it
//! back — needs no table: it holds in every crate.
//!
//! Crate names are package names (`slipway-store`); an import names a crate
//! by its extern name (`slipway_store`), which is compared with `_` read as
//! `-`. A name ending in `-*` stands for every crate with that prefix.

/// The crates by layer, lowest first. A crate may depend only on crates of
/// earlier layers: never upward, never sideways.
pub const LAYERS: &[&[&str]] = &[
    &["slipway-core"],
    &[
        "slipway-files",
        "slipway-auth",
        "slipway-api",
        "slipway-sops",
        "slipway-repo",
    ],
    &["slipway-store", "slipway-engine"],
    &["slipway-accounts"],
    &["slipway-worker"],
    &["slipway-service", "slipway-gateway"],
    &["slipway-grpc", "slipway-web"],
    &["slipway-server"],
    &["slipway-cli"],
];

/// Crates for tests only. They may depend on any crate below the CLI; no
/// crate may depend on them except as a dev-dependency.
pub const TEST_ONLY: &[&str] = &["slipway-testkit"];

/// Developer tools, not part of the shipped binary. They depend on no crate
/// of the workspace and no crate depends on them.
pub const TOOLS: &[&str] = &["slipway-structure"];

/// A named set of crates.
pub struct Crates {
    /// What the report calls them.
    pub name: &'static str,
    /// Their names.
    pub crates: &'static [&'static str],
}

/// The crates of a transport: HTTP, its servers and clients' plumbing, gRPC.
const TRANSPORT: Crates = Crates {
    name: "a transport",
    crates: &[
        "axum",
        "axum-*",
        "http",
        "http-body",
        "http-body-*",
        "hyper",
        "hyper-*",
        "tonic",
        "tonic-*",
        "tower",
        "tower-*",
    ],
};

/// The store: persistence, which only the service (and what runs
/// operations) may reach.
const STORE: Crates = Crates {
    name: "the store",
    crates: &["slipway-store"],
};

/// The worker: what runs operations and keeps accounts.
const WORKER: Crates = Crates {
    name: "the worker",
    crates: &["slipway-worker"],
};

/// An import the architecture forbids.
pub struct Forbidden {
    /// The crate (package) the rule holds in.
    pub krate: &'static str,
    /// Modules of that crate the rule does not hold in: each with every
    /// module inside it (`"startup"` is `startup` and `startup::…`).
    pub except: &'static [&'static str],
    /// The crates it must not import.
    pub crates: Crates,
    /// Whether a Cargo dependency (normal or build; dev-dependencies serve
    /// tests only) on them is forbidden too. Without it only `use` paths and
    /// paths in code are checked.
    pub cargo: bool,
    /// Why, as the report says it.
    pub why: &'static str,
}

/// The forbidden imports. A path counts when it names such a crate, and
/// also when it names another workspace crate's re-export of something
/// defined in one (`slipway_service::x::T` where the service `pub use`s
/// `slipway_store::T`).
pub const FORBIDDEN: &[Forbidden] = &[
    Forbidden {
        krate: "slipway-service",
        except: &[],
        crates: TRANSPORT,
        cargo: true,
        why: "the service knows no transport: each transport turns its requests into calls of the service",
    },
    Forbidden {
        krate: "slipway-worker",
        except: &[],
        crates: TRANSPORT,
        cargo: true,
        why: "the worker never sees HTTP",
    },
    Forbidden {
        krate: "slipway-service",
        except: &[],
        crates: WORKER,
        cargo: true,
        why: "the service does not depend on the worker: what both need lives in a crate below both",
    },
    Forbidden {
        krate: "slipway-grpc",
        except: &[],
        crates: STORE,
        cargo: true,
        why: "a transport calls the service, never the store",
    },
    Forbidden {
        krate: "slipway-web",
        except: &[],
        crates: STORE,
        cargo: true,
        why: "a transport calls the service, never the store",
    },
    // The server composes the store at start-up (it opens the database and
    // builds the service and a worker over it), so it depends on the store;
    // its REST transport (`http`) and listener must not use it. Only
    // `startup`, and `config`, which gathers each part's own settings (the
    // object storage's among them), may.
    Forbidden {
        krate: "slipway-server",
        except: &["startup", "config"],
        crates: STORE,
        cargo: false,
        why: "a transport calls the service, never the store (in the server only `startup`, which composes the store, and `config`, which gathers its settings, may)",
    },
];

/// The layer `krate` is in, if any.
pub fn layer_of(krate: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&krate))
}

/// Whether `krate` (a package or extern name) is one of `patterns`.
pub fn matches(patterns: &[&str], krate: &str) -> bool {
    let krate = krate.replace('_', "-");
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => krate.starts_with(prefix),
            None => krate == *pattern,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_package_and_extern_names() {
        let transport = TRANSPORT.crates;
        assert!(matches(transport, "tower_http"));
        assert!(matches(transport, "tower-http"));
        assert!(matches(transport, "tower"));
        assert!(matches(transport, "http"));
        assert!(matches(transport, "http_body_util"));
        assert!(matches(transport, "tonic-health"));
        assert!(!matches(transport, "httparse"));
        assert!(!matches(transport, "towers"));
        assert!(!matches(transport, "reqwest"));
        assert!(matches(STORE.crates, "slipway_store"));
        assert!(!matches(STORE.crates, "slipway_storage"));
    }

    #[test]
    fn every_crate_of_a_rule_is_in_a_layer() {
        for rule in FORBIDDEN {
            assert!(layer_of(rule.krate).is_some(), "{}", rule.krate);
        }
    }
}
