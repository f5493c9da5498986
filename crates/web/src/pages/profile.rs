//! Who I am here: my login and subject, my level, my organizations and how
//! I stand with each, the credential this page was opened with, and where
//! my API tokens are.

use axum::response::Response;
use maud::html;
use slipway_service::web_views::Standing;

use super::org_path;
use crate::format;
use crate::session::{Ctx, csrf_field};

pub async fn page(ctx: Ctx) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let service = &ctx.web.service;
    let me = service.whoami(&session.caller);
    let directory = match service.organization_directory(&session.caller).await {
        Ok(d) => d,
        Err(e) => return ctx.error(&e),
    };
    let mine: Vec<_> = directory
        .into_iter()
        .filter(|e| e.standing != Standing::Outsider)
        .collect();
    ctx.render(
        "Profile",
        html! {
            h1 { "Your profile" }
            dl.summary #profile {
                dt { "Login" } dd #profile-login { (me.login) }
                dt { "Subject" } dd { code { (me.subject) } }
                dt { "Level" } dd #profile-level { (me.level.as_str().replace('_', " ")) }
                dt { "Signed in with" } dd {
                    @match me.credential.kind.as_str() {
                        "user_token" => { "a sign-in with GitHub" }
                        "api_token" => { "an API token (" code { (me.credential.id) } ")" }
                        _ => { "a trusted network address" }
                    }
                    @if let Some(expires) = me.credential.expires_at { ", until " (format::time(expires, ctx.zone)) }
                }
            }
            section aria-labelledby="my-orgs" {
                h2 #my-orgs { "Your organizations" }
                @if mine.is_empty() {
                    p.empty { "You belong to no organization. Ask to join one on the " a href="/" { "home page" } "." }
                } @else {
                    ul #profile-orgs { @for e in &mine { li {
                        a href=(org_path(&e.name)) { (e.name) } " — "
                        @match e.standing {
                            Standing::Owner => { "owner" }
                            Standing::Member => { "member" }
                            Standing::Requested => { span.badge.capacity-waiting { "asked to join, pending" } }
                            Standing::Outsider => {}
                        }
                    } } }
                }
            }
            section aria-labelledby="my-tokens" {
                h2 #my-tokens { "API tokens" }
                p { "Your tokens for scripts and CI are on the " a href="/tokens" { "tokens page" } "." }
            }
            form.inline method="post" action="/sign-out" {
                (csrf_field(&session))
                button type="submit" { "Sign out" }
            }
        },
    )
}
