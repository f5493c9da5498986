//! The identity commands: login, logout, whoami, access, tokens,
//! organizations, key rotation and the audit log.

use std::process::ExitCode;
use std::time::Duration;

use slipway_api::types::*;

use crate::client::Connection;
use crate::credentials::{self, Saved};
use crate::exit::{self, Failure};
use crate::output::{self, Table};

fn saved(session: &Session) -> Saved {
    Saved {
        token: session.token.clone(),
        login: session.login.clone(),
        expires_at: session.expires_at,
    }
}

/// What `slipway admin` asks of provisioning site-wide.
pub enum Provisioning {
    Show,
    Pause { reason: String },
    Resume,
}

impl Connection {
    /// Signs in with GitHub — with a token (CI), or the device flow — and
    /// saves the user token for this server.
    pub async fn login(&self, github_token: Option<String>) -> Result<ExitCode, Failure> {
        let session = match github_token {
            Some(token) => self.client.github_token_login(&token).await?,
            None => self.device_flow().await?,
        };
        let file = credentials::save(self.client.base_url(), saved(&session)).map_err(|e| {
            Failure::new(
                exit::FAILED,
                "credentials",
                format!("cannot save the credentials: {e}"),
            )
        })?;
        if self.json {
            let mut shown = session.clone();
            shown.token = "(saved)".into();
            output::json(&shown);
        } else {
            println!(
                "Logged in to {} as {} ({}; organizations: {}). Token saved in {}.",
                self.client.base_url(),
                session.login,
                session.level,
                if session.organizations.is_empty() {
                    "none".to_owned()
                } else {
                    session.organizations.join(", ")
                },
                file.display()
            );
        }
        for warning in &session.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(ExitCode::SUCCESS)
    }

    async fn device_flow(&self) -> Result<Session, Failure> {
        let start = self.client.device_start().await?;
        eprintln!(
            "To sign in, open {} and enter the code {}",
            start.verification_uri, start.user_code
        );
        let mut interval = Duration::from_secs(start.interval.max(1));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(start.expires_in);
        loop {
            tokio::time::sleep(interval).await;
            if tokio::time::Instant::now() > deadline {
                return Err(Failure::new(
                    exit::NOT_ALLOWED,
                    "device_code_expired",
                    "the code expired before it was approved; run slipway login again",
                ));
            }
            let poll = self.client.device_poll(&start.device_code).await?;
            match poll.status {
                DeviceStatus::Pending => {}
                DeviceStatus::SlowDown => {
                    // GitHub asks for more time between polls: at least 5 s more.
                    let asked = poll.interval.map(Duration::from_secs).unwrap_or_default();
                    interval = asked.max(interval + Duration::from_secs(5));
                }
                DeviceStatus::Complete => {
                    return poll.session.ok_or_else(|| {
                        Failure::new(
                            exit::FAILED,
                            "protocol",
                            "the server completed the sign-in without a session",
                        )
                    });
                }
            }
        }
    }

    pub async fn logout(&self) -> Result<ExitCode, Failure> {
        let result = self.client.logout().await;
        credentials::forget(self.client.base_url()).map_err(|e| {
            Failure::new(
                exit::FAILED,
                "credentials",
                format!("cannot update the credentials: {e}"),
            )
        })?;
        match result {
            // Already expired or revoked: logged out all the same.
            Ok(()) | Err(slipway_api::ClientError::Api { .. }) => {
                if self.json {
                    output::json(&serde_json::json!({
                        "result": "logged_out",
                        "server": self.client.base_url(),
                    }));
                } else {
                    println!("Logged out of {}.", self.client.base_url());
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn whoami(&self) -> Result<ExitCode, Failure> {
        let me = self.client.whoami().await?;
        if self.json {
            output::json(&me);
        } else {
            println!("login:         {}", me.login);
            println!("level:         {}", me.level);
            println!(
                "organizations: {}",
                if me.organizations.is_empty() {
                    "-".to_owned()
                } else {
                    me.organizations.join(", ")
                }
            );
            println!("credential:    {} {}", me.credential.kind, me.credential.id);
            if let Some(at) = me.credential.expires_at {
                println!("expires:       {}", at.to_rfc3339());
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Prints a cluster token: just the token on stdout (for `$(…)`), or the
    /// whole document with `--json`.
    pub async fn access(&self, cluster: String) -> Result<ExitCode, Failure> {
        let token = self.client.access(&cluster).await?;
        if self.json {
            output::json(&token);
        } else {
            println!("{}", token.token);
            eprintln!(
                "Cluster token for {} ({}), valid until {}.",
                token.audience,
                token.level,
                token.expires_at.to_rfc3339()
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn token_create(
        &self,
        name: String,
        scopes: Vec<String>,
        expires: Option<String>,
    ) -> Result<ExitCode, Failure> {
        let created = self
            .client
            .create_token(&CreateToken {
                name,
                scopes,
                expires,
            })
            .await?;
        if self.json {
            output::json(&created);
        } else {
            println!("{}", created.secret);
            eprintln!(
                "Token {} ({}, scopes {}) created; the secret above is shown only now{}.",
                created.token.id,
                created.token.name,
                created.token.scopes.join(","),
                created
                    .token
                    .expires_at
                    .map(|t| format!(" and expires at {}", t.to_rfc3339()))
                    .unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn token_list(&self) -> Result<ExitCode, Failure> {
        let tokens = self.client.tokens().await?;
        if self.json {
            output::json_list("tokens", &tokens, None);
        } else {
            let mut table = Table::new(&["ID", "NAME", "OWNER", "SCOPES", "EXPIRES"]);
            for t in tokens {
                let state = match (t.revoked_at, t.expires_at) {
                    (Some(_), _) => "revoked".to_owned(),
                    (None, Some(at)) => at.to_rfc3339(),
                    (None, None) => "never".to_owned(),
                };
                table.row([t.id, t.name, t.owner, t.scopes.join(","), state]);
            }
            table.print();
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn token_revoke(&self, id: String) -> Result<ExitCode, Failure> {
        self.client.revoke_token(&id).await?;
        if self.json {
            output::json(&serde_json::json!({"result": "revoked", "token": id}));
        } else {
            println!("Token {id} revoked.");
        }
        Ok(ExitCode::SUCCESS)
    }

    fn show_org(&self, org: &OrganizationView) {
        if self.json {
            output::json(org);
            return;
        }
        let secs = |s: u64| slipway_core::duration::format_duration(Duration::from_secs(s));
        println!("name:          {}", org.name);
        println!(
            "github org:    {}",
            org.github_org.as_deref().unwrap_or("-")
        );
        println!(
            "github team:   {}",
            org.github_team.as_deref().unwrap_or("-")
        );
        println!("max nodes:     {}", org.limits.max_nodes);
        println!("max lifetime:  {}", secs(org.limits.max_lifetime_secs));
        println!("min lifetime:  {}", secs(org.limits.min_lifetime_secs));
        println!("max clusters:  {}", org.limits.max_clusters);
    }

    pub async fn org_create(&self, req: CreateOrganization) -> Result<ExitCode, Failure> {
        let org = self.client.create_organization(&req).await?;
        self.show_org(&org);
        Ok(ExitCode::SUCCESS)
    }

    pub async fn org_show(&self, name: String) -> Result<ExitCode, Failure> {
        let org = self.client.organization(&name).await?;
        self.show_org(&org);
        Ok(ExitCode::SUCCESS)
    }

    /// Shows the limits, or changes the ones given.
    pub async fn org_limits(
        &self,
        name: String,
        limits: UpdateLimits,
    ) -> Result<ExitCode, Failure> {
        let unchanged = limits == UpdateLimits::default();
        let org = if unchanged {
            self.client.organization(&name).await?
        } else {
            self.client
                .update_organization(
                    &name,
                    &UpdateOrganization {
                        limits: Some(limits),
                        ..Default::default()
                    },
                )
                .await?
        };
        self.show_org(&org);
        Ok(ExitCode::SUCCESS)
    }

    pub async fn org_members(&self, name: String) -> Result<ExitCode, Failure> {
        let members = self.client.members(&name).await?;
        if self.json {
            output::json_list("members", &members, None);
        } else {
            let mut table = Table::new(&["LOGIN", "ROLE", "STATE", "DECIDED BY"]);
            for m in members {
                table.row([
                    m.login.unwrap_or(m.subject),
                    m.role,
                    m.state,
                    m.decided_by.unwrap_or_else(|| "-".to_owned()),
                ]);
            }
            table.print();
        }
        Ok(ExitCode::SUCCESS)
    }

    fn show_membership(&self, m: &MembershipView) {
        if self.json {
            output::json(m);
        } else {
            println!(
                "{} in {}: {} ({})",
                m.login.as_deref().unwrap_or(&m.subject),
                m.organization,
                m.state,
                m.role
            );
        }
    }

    pub async fn org_request(&self, name: String) -> Result<ExitCode, Failure> {
        let m = self.client.request_membership(&name).await?;
        self.show_membership(&m);
        Ok(ExitCode::SUCCESS)
    }

    pub async fn org_approve(
        &self,
        name: String,
        login: String,
        owner: bool,
    ) -> Result<ExitCode, Failure> {
        let m = self.client.approve_membership(&name, &login, owner).await?;
        self.show_membership(&m);
        Ok(ExitCode::SUCCESS)
    }

    pub async fn org_remove(&self, name: String, login: String) -> Result<ExitCode, Failure> {
        self.client.remove_membership(&name, &login).await?;
        if self.json {
            output::json(&serde_json::json!({
                "result": "removed",
                "organization": name,
                "login": login,
            }));
        } else {
            println!("{login} removed from {name}.");
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn rotate_keys(&self) -> Result<ExitCode, Failure> {
        let rotated = self.client.rotate_keys().await?;
        if self.json {
            output::json(&rotated);
        } else {
            println!(
                "New signing key {}; published keys: {}",
                rotated.signing_kid,
                rotated.published.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `slipway admin pause|resume|provisioning`: pauses, resumes or shows
    /// provisioning site-wide.
    pub async fn secrets_recipient(&self) -> Result<ExitCode, Failure> {
        let recipient = self.client.secrets_recipient().await?;
        if self.json {
            output::json(&recipient);
        } else {
            // Just the recipient: `.sops.yaml` takes it as it is.
            println!("{}", recipient.recipient);
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn provisioning(&self, asked: Provisioning) -> Result<ExitCode, Failure> {
        let view = match asked {
            Provisioning::Show => self.client.provisioning().await?,
            Provisioning::Pause { reason } => self.client.pause_provisioning(&reason).await?,
            Provisioning::Resume => self.client.resume_provisioning().await?,
        };
        if self.json {
            output::json(&view);
        } else if view.paused {
            println!(
                "Provisioning is paused since {} by {}: {}. Queued operations wait; running ones go on.",
                view.since.map(|t| t.to_rfc3339()).unwrap_or_default(),
                view.by.as_deref().unwrap_or("?"),
                view.reason.as_deref().unwrap_or_default()
            );
        } else {
            println!("Provisioning runs: queued operations start as workers are free.");
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn revoke_jti(&self, jti: String) -> Result<ExitCode, Failure> {
        self.client.revoke_jti(&jti).await?;
        if self.json {
            output::json(&serde_json::json!({"result": "revoked", "jti": jti}));
        } else {
            println!(
                "Revoked token {jti}: the API refuses it now, every cluster gateway within seconds"
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// A page of the audit log, newest first; `next_cursor` (the oldest
    /// entry's id) is set when the page is full, and `--cursor` goes on
    /// from there.
    pub async fn audit(&self, query: Vec<(&str, String)>, limit: u32) -> Result<ExitCode, Failure> {
        let entries = self.client.audit(&query).await?;
        let next_cursor = (entries.len() >= limit as usize)
            .then(|| entries.last().map(|e| e.id.to_string()))
            .flatten();
        if self.json {
            output::json_list("entries", &entries, next_cursor.as_deref());
        } else {
            let mut table = Table::new(&["AT", "ACTOR", "LEVEL", "ACTION", "TARGET", "RESULT"]);
            for e in entries {
                table.row([
                    e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    match e.actor_name {
                        Some(name) if name != e.actor => format!("{name} ({})", e.actor),
                        _ => e.actor,
                    },
                    e.level,
                    e.action,
                    e.target,
                    e.result,
                ]);
            }
            table.print();
            if let Some(cursor) = next_cursor {
                eprintln!("more: slipway audit --cursor {cursor} (with the same filters)");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
