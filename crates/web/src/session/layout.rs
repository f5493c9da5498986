//! The frame of every page: a persistent navigation, who is signed in (and
//! signing out), the result of the last action, and the page's content.

use maud::{DOCTYPE, Markup, html};

use super::{Ctx, csrf_field};
use crate::assets::{css_url, js_url};
use crate::flash::Tone;

pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    let session = ctx.session();
    html! {
        (DOCTYPE)
        html lang="en" data-tz=(crate::format::zone_name(ctx.zone)) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Slipway" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(css_url());
                script src=(js_url()) defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/" { "Slipway" }
                        @if let Some(s) = session {
                            ul.nav {
                                li { a href="/" aria-current=[current(ctx, &["/", "/orgs"])] { "Organizations" } }
                                li { a href="/clusters" aria-current=[current(ctx, &["/clusters"])] { "Clusters" } }
                                li { a href="/deployments" aria-current=[current(ctx, &["/deployments"])] { "Deployments" } }
                                li { a href="/blueprints" aria-current=[current(ctx, &["/blueprints"])] { "Blueprints" } }
                                li { a href="/tokens" aria-current=[current(ctx, &["/tokens"])] { "Tokens" } }
                                @if s.admin() {
                                    li { a href="/runs" aria-current=[current(ctx, &["/runs"])] { "Runs" } }
                                    li { a href="/admin" aria-current=[current(ctx, &["/admin"])] { "Administration" } }
                                }
                            }
                            div.who {
                                a.login href="/profile" title="Your profile" { (s.login()) }
                                @if s.admin() { " " span.tag { "admin" } }
                                form method="post" action="/sign-out" {
                                    (csrf_field(s))
                                    button.link type="submit" { "Sign out" }
                                }
                            }
                        } @else {
                            div.who { a href="/sign-in" { "Sign in" } }
                        }
                    }
                }
                main #main tabindex="-1" {
                    @if let Some(paused) = &ctx.paused {
                        div.paused role="status" data-paused {
                            strong { "Provisioning is paused" }
                            @if let Some(by) = &paused.by { " by " (by) }
                            @if let Some(since) = paused.since { " since " (crate::format::time(since, ctx.zone)) }
                            @if let Some(reason) = &paused.reason { ": " (reason) }
                            ". Deploys, destroys and runs you ask for wait in the queue; running ones go on."
                        }
                    }
                    @if let Some(flash) = &ctx.flash {
                        div class={"flash " (flash.tone.as_str())}
                            role=(if flash.tone == Tone::Ok { "status" } else { "alert" }) data-flash=(flash.tone.as_str()) {
                            (crate::format::humanize(&flash.text, ctx.zone))
                        }
                    }
                    (body)
                }
                footer {
                    "Slipway · times are in "
                    strong data-zone=(crate::format::zone_name(ctx.zone)) { (crate::format::zone_name(ctx.zone)) }
                    @if ctx.zone == chrono_tz::Tz::UTC { " (your browser's zone is used once it has told Slipway)" }
                }
            }
        }
    }
}

/// `page` when the page shown is under one of `sections` (`/` only itself).
fn current(ctx: &Ctx, sections: &[&str]) -> Option<&'static str> {
    let path = ctx.path.split(['?', '#']).next().unwrap_or("/");
    sections
        .iter()
        .any(|s| {
            if *s == "/" {
                path == "/"
            } else {
                path == *s || path.starts_with(&format!("{s}/"))
            }
        })
        .then_some("page")
}
