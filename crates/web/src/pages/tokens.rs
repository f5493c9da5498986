//! API tokens: yours (an administrator's: everyone's), created with a
//! secret shown once, and revoked.

use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use slipway_api::types::{CreateToken, TokenView};
use slipway_service::scope;

use super::{answered, done};
use crate::echo::{Echo, Field};
use crate::flash::Flash;
use crate::format;
use crate::session::{Ctx, FormPost, Session, csrf_field};

/// The form that creates a token.
const FORM: &str = "token-form";

pub async fn page(ctx: Ctx) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let tokens = ctx.web.service.tokens(&session.caller).await;
    ctx.render(
        "API tokens",
        html! {
            h1 { "API tokens" }
            @match tokens {
                Ok(tokens) => { (section(&ctx, &session, &tokens)) }
                Err(e) => { p.refused { (e.message) } }
            }
        },
    )
}

/// The token list and the form to make one (also on the administration
/// page).
pub fn section(ctx: &Ctx, session: &Session, tokens: &[TokenView]) -> Markup {
    let zone = ctx.zone;
    let now = chrono::Utc::now();
    // What was typed before a refusal (the expiry and one scope by default).
    let echo = Echo::on(ctx);
    let name = Field::of(ctx, FORM, "name", "token-name", None);
    let expires = Field::of(
        ctx,
        FORM,
        "expires",
        "token-expires",
        Some("30d".to_owned()),
    );
    let scopes = Field::of(ctx, FORM, "scopes", "token-scopes", None);
    let checked = |s: &str| {
        if echo.is_of(FORM) {
            echo.values(FORM, "scopes").any(|v| v == s)
        } else {
            s == scope::CLUSTERS_READ
        }
    };
    html! {
        p.hint { "Long-lived credentials for CI and scripts: a random secret stored only as its hash, with scopes and an expiry." }
        @if tokens.is_empty() {
            p.empty { "No API tokens. Create one below." }
        } @else {
            div.table-wrap tabindex="0" role="region" aria-label="API tokens (scrolls sideways)" { table.stack #tokens {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Owner" } th scope="col" { "Scopes" }
                    th scope="col" { "Expires" } th scope="col" { "State" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody { @for t in tokens {
                    @let live = t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now);
                    tr data-token=(t.id) data-token-name=(t.name) {
                        td.name data-label="Name" { (t.name) br; code.small { (t.id) } }
                        td.who data-label="Owner" { (t.owner) }
                        td data-label="Scopes" { (t.scopes.join(" ")) }
                        td data-label="Expires" { (format::opt_time(t.expires_at, zone)) }
                        td data-label="State" {
                            @if let Some(at) = t.revoked_at { span.badge.op-failed data-token-state="revoked" { "revoked" } " " (format::time(at, zone)) }
                            @else if !live { span.badge.op-cancelled data-token-state="expired" { "expired" } }
                            @else { span.badge.op-succeeded data-token-state="active" { "active" } }
                        }
                        td.row-actions { @if live {
                            form.inline method="post" action={"/tokens/" (t.id) "/revoke"} {
                                (csrf_field(session))
                                button.link.danger type="submit" aria-label={"Revoke " (t.name)} { "Revoke" }
                            }
                        } }
                    }
                } }
            } }
        }
        details #new-token open[tokens.is_empty() || echo.is_of(FORM)] {
            summary { "Create a token" }
            form.stack.narrow #(FORM) method="post" action="/tokens" {
                (csrf_field(session))
                label for="token-name" { "Name" }
                input #token-name name="name" required maxlength="100" autocomplete="off"
                    value=[name.value.as_deref()] aria-invalid=[name.invalid()] aria-describedby=[name.described_by(None)];
                (name.message())
                fieldset aria-invalid=[scopes.invalid()] aria-describedby=[scopes.described_by(None)] {
                    legend { "Scopes" }
                    @for s in scope::KNOWN {
                        @if (*s != scope::ADMIN && *s != scope::ALL) || session.admin() {
                            label.check { input type="checkbox" name="scopes" value=(s) checked[checked(s)]; " " code { (s) } }
                        }
                    }
                    (scopes.message())
                }
                label for="token-expires" { "Expires after" }
                input #token-expires name="expires" autocomplete="off" value=[expires.value.as_deref()]
                    aria-invalid=[expires.invalid()] aria-describedby=[expires.described_by(None)];
                (expires.message())
                button.primary type="submit" { "Create the token" }
            }
        }
    }
}

/// Creates a token and shows its secret this once (on a page nobody keeps).
pub async fn create(action: FormPost<Vec<(String, String)>>) -> Response {
    let zone = action.ctx.zone;
    let field = |name: &str| {
        action
            .form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let req = CreateToken {
        name: field("name").unwrap_or_default(),
        scopes: action
            .form
            .iter()
            .filter(|(k, _)| k == "scopes")
            .map(|(_, v)| v.clone())
            .collect(),
        expires: field("expires"),
    };
    let ctx = &action.ctx;
    match ctx.web.service.create_token(action.caller(), req).await {
        Ok(created) => ctx.render(
            "Token created",
            html! {
                h1 { "Token " (created.token.name) " is created" }
                p { "Copy its secret now: " strong { "it is shown this once" } ", and Slipway keeps only its hash." }
                div.secret {
                    label for="token-secret" { "Secret" }
                    input #token-secret readonly value=(created.secret) spellcheck="false";
                    button type="button" data-copy="token-secret" { "Copy" }
                    span.copied role="status" aria-live="polite" {}
                }
                p { "Scopes: " (created.token.scopes.join(" ")) ". Expires " (format::opt_time(created.token.expires_at, zone)) "." }
                p { a href="/tokens" { "Back to the tokens" } }
            },
        ),
        Err(e) => answered(
            &action,
            "/tokens",
            FORM,
            Err::<(), _>(e),
            |_| true,
            |()| Flash::ok(String::new()),
        ),
    }
}

pub async fn revoke(Path(id): Path<String>, action: FormPost<super::Confirm>) -> Response {
    let back = if action.session().admin() {
        "/admin#tokens"
    } else {
        "/tokens"
    };
    if !action.form.confirmed() {
        return super::confirm_step(
            &action.ctx,
            "Revoke the token?",
            format!(
                "Token {id} will be refused from now on, wherever it is used. This cannot be undone."
            ),
            "Revoke the token",
            back,
        );
    }
    let result = action
        .ctx
        .web
        .service
        .revoke_api_token(action.caller(), &id)
        .await;
    done(&action.ctx, back, result, |()| {
        format!("Token {id} is revoked: it is refused from now on.")
    })
}
