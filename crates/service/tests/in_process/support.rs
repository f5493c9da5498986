//! A service over a fresh SQLite store, callers of each level, and
//! clusters brought to the states a test needs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use slipway_api::types::{CreateCluster, CreateOrganization, DeployCluster, UpdateLimits};
use slipway_auth::keys::Sealer;
use slipway_core::blueprint::{BlueprintMetadata, NodeBounds};
use slipway_core::lifecycle::Ending;
use slipway_core::{Identity, OperationId, OperationState, OrgName, Subject};
use slipway_service::{
    AuthConfig, Caller, Credential, Identities, KeyRing, Kind, Parts, Service, ServiceConfig,
    TokenSigner,
};
use slipway_store::{
    BlueprintVersion, Membership, MembershipRole, MembershipState, SqlStore, Store,
};
use slipway_testkit::database::TestDatabase;
use tokio_util::sync::CancellationToken;

/// The organization the tests' clusters belong to.
pub const ORG: &str = "research";

/// A service over its own SQLite database, with organization [`ORG`]
/// (its members may run at most [`MAX_NODES`] nodes) and blueprint `local`
/// registered.
pub struct World {
    pub service: Arc<Service>,
    _database: TestDatabase,
    _data_dir: tempfile::TempDir,
}

/// The node limit of [`ORG`]'s members.
pub const MAX_NODES: u32 = 4;

impl World {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A world whose service configuration `adjust` changes first.
    pub async fn with_config(adjust: impl FnOnce(&mut ServiceConfig)) -> Self {
        let database = TestDatabase::sqlite();
        let store: Arc<dyn Store> = Arc::new(
            SqlStore::connect(&database.url)
                .await
                .expect("a SQLite store"),
        );
        let sealer =
            Arc::new(Sealer::new(&Sealer::generate_key().expect("a key")).expect("a sealer"));
        let auth = AuthConfig::default();
        let keys = KeyRing::load(store.as_ref(), &sealer, auth.longest_token())
            .await
            .expect("signing keys");
        let signer = Arc::new(TokenSigner {
            keys,
            issuer: "http://slipway.test".into(),
        });
        let data_dir = tempfile::tempdir().expect("a data directory");
        let mut config = ServiceConfig {
            public_url: "http://slipway.test".into(),
            auth: auth.clone(),
            accounts: Default::default(),
        };
        adjust(&mut config);
        let storage = Arc::new(
            slipway_store::objects::Storage::open(&Default::default(), data_dir.path())
                .expect("object storage"),
        );
        // Terraform on PATH, else the launcher the test setup installs.
        let terraform = slipway_engine::terraform::locate(
            None,
            &slipway_engine::terraform::default_tools_dir(),
        )
        .await
        .expect("Terraform")
        .expect("Terraform is installed");
        let engine = slipway_engine::Engine::new(
            terraform,
            slipway_engine::EngineConfig {
                work_root: data_dir.path().join("work"),
                env_passthrough: Vec::new(),
                cancel_grace: Duration::from_secs(5),
                lock_timeout: Duration::from_secs(5),
                aws: Default::default(),
                providers: Default::default(),
            },
        )
        .expect("the engine");
        let service = Service::new(Parts {
            store,
            identities: Identities::new(&auth, signer, sealer),
            storage,
            config,
            engine: Arc::new(engine),
            worker_id: "test-worker".into(),
            shutdown: CancellationToken::new(),
        });
        let world = Self {
            service,
            _database: database,
            _data_dir: data_dir,
        };
        world
            .service
            .create_organization(
                &admin(),
                CreateOrganization {
                    name: ORG.into(),
                    github_org: None,
                    github_team: None,
                    limits: Some(UpdateLimits {
                        max_nodes: Some(MAX_NODES),
                        ..UpdateLimits::default()
                    }),
                    destroy_when_idle: false,
                },
            )
            .await
            .expect("the organization");
        world
            .service
            .store
            .register_blueprint_version(blueprint())
            .await
            .expect("the blueprint");
        world
    }

    pub fn store(&self) -> &dyn Store {
        self.service.store.as_ref()
    }

    /// Defines cluster `name` in [`ORG`] (as an administrator).
    pub async fn cluster(&self, name: &str, public: bool) {
        self.service
            .create_cluster(
                &admin(),
                CreateCluster {
                    name: name.into(),
                    blueprint: "local".into(),
                    version: None,
                    organization: Some(ORG.into()),
                    public,
                    nodes: Some(2),
                    variables: Default::default(),
                },
            )
            .await
            .expect("the cluster is defined");
    }

    /// Queues a deploy of `name` (as an administrator); its operation.
    pub async fn queue_deploy(&self, name: &str) -> String {
        self.service
            .deploy(&admin(), name, DeployCluster::default())
            .await
            .expect("the deploy is queued")
            .operation
            .expect("an operation")
            .id
    }

    /// Leases the next queued operation and ends it with `ending`, as an
    /// executor would; the operation's id.
    pub async fn run_next(&self, ending: Ending) -> OperationId {
        let now = Utc::now();
        let lease = self
            .store()
            .lease_next("test-worker", &[], now, Duration::from_secs(60), "hash")
            .await
            .expect("the queue answers")
            .expect("an operation to run");
        let id = lease.operation.id.clone();
        self.store()
            .finish(&id, "test-worker", ending, serde_json::Value::Null, now)
            .await
            .expect("the operation ends");
        id
    }

    /// Defines cluster `name` and deploys it: it is `running`.
    pub async fn running(&self, name: &str, public: bool) {
        self.cluster(name, public).await;
        self.queue_deploy(name).await;
        self.run_next(succeeded()).await;
    }

    /// Makes `who` an approved member (or owner) of [`ORG`] in the store.
    pub async fn membership(&self, who: &Caller, role: MembershipRole) {
        self.store()
            .put_membership(Membership {
                organization: org(),
                subject: who.subject().clone(),
                name: Some(who.name().to_owned()),
                role,
                state: MembershipState::Approved,
                requested_at: Utc::now(),
                decided_by: None,
                decided_at: None,
            })
            .await
            .expect("the membership is kept");
    }
}

pub fn org() -> OrgName {
    OrgName::parse(ORG).unwrap()
}

/// The `local` blueprint as the tests register it: 1 to 10 nodes, free.
pub fn blueprint() -> BlueprintVersion {
    BlueprintVersion {
        blueprint: "local".into(),
        version: "1.0.0".into(),
        metadata: BlueprintMetadata {
            name: "local".into(),
            description: String::new(),
            nodes: NodeBounds {
                min: 1,
                max: 10,
                default: 2,
            },
            variables: BTreeMap::new(),
            cost: Default::default(),
            worker_tags: Vec::new(),
            jobs: None,
        },
        files: BTreeMap::from([("main.tf".to_owned(), "# nothing".to_owned())]),
        digest: "digest-1.0.0".into(),
        metadata_text: None,
        created_at: Utc::now(),
        organizations: None,
        deprecated: None,
    }
}

pub fn succeeded() -> Ending {
    Ending::Succeeded {
        outputs: serde_json::Map::new(),
    }
}

pub fn failed() -> Ending {
    Ending::Stopped {
        state: OperationState::Failed,
        error: "terraform apply failed".into(),
    }
}

fn person(id: i64, login: &str, admin: bool, organizations: &[&str]) -> Caller {
    Caller {
        identity: Identity {
            subject: Subject::github(id),
            name: login.into(),
            admin,
            organizations: organizations
                .iter()
                .map(|o| OrgName::parse(o).unwrap())
                .collect::<BTreeSet<_>>(),
        },
        credential: Credential::UserToken {
            jti: format!("jti-{login}"),
            expires_at: Utc::now() + chrono::TimeDelta::hours(1),
        },
    }
}

/// A site administrator.
pub fn admin() -> Caller {
    person(1, "ada", true, &[])
}

/// A member of [`ORG`].
pub fn org_member() -> Caller {
    person(2, "olga", false, &[ORG])
}

/// Another member of [`ORG`].
pub fn other_org_member() -> Caller {
    person(3, "otto", false, &[ORG])
}

/// Signed in, but of no organization.
pub fn member() -> Caller {
    person(4, "mel", false, &[])
}

/// `caller` through an API token with only `scopes`.
pub fn with_scopes(caller: Caller, scopes: &[&str]) -> Caller {
    Caller {
        credential: Credential::ApiToken {
            id: "tok_test".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        },
        ..caller
    }
}

/// The refusal `result` must be: its kind and code.
#[track_caller]
pub fn refused<T: std::fmt::Debug>(
    result: slipway_service::Result<T>,
    kind: Kind,
    code: &str,
) -> slipway_service::Error {
    let error = result.expect_err("the action is refused");
    assert_eq!(
        (error.kind, error.code.as_str()),
        (kind, code),
        "refused, but not as expected: {error:?}"
    );
    error
}
