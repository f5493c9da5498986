//! The blueprint catalog: every version the viewer may use — whom it is
//! for, whether `latest` names it, whether it is deprecated and why, its
//! sizes and cost, and the variables a cluster of it takes. Publishing,
//! deprecating and moving `latest` are the CLI's and the API's
//! (administrators).

use axum::response::Response;
use maud::html;
use slipway_core::blueprint::VariableType;

use crate::format;
use crate::session::Ctx;

fn kind(k: VariableType) -> &'static str {
    match k {
        VariableType::String => "text",
        VariableType::Number => "number",
        VariableType::Integer => "whole number",
        VariableType::Bool => "true or false",
    }
}

pub async fn page(ctx: Ctx) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let service = &ctx.web.service;
    let entries = match service.catalog(&session.caller).await {
        Ok(entries) => entries,
        Err(e) => return ctx.error(&e),
    };
    let zone = ctx.zone;
    ctx.render(
        "Blueprints",
        html! {
            h1 { "Blueprints" }
            p.hint { "The versions you may create clusters of. Administrators publish them (slipway blueprint publish), deprecate them and point latest at one; a deprecated version takes no new cluster, and the clusters that run it keep running." }
            @if entries.is_empty() {
                p.empty { "No blueprint is published for you." }
            }
            @for (v, metadata) in &entries {
                section.blueprint data-blueprint=(v.name) data-version=(v.version) aria-labelledby={"bp-" (v.name) "-" (v.version)} {
                    h2 id={"bp-" (v.name) "-" (v.version)} {
                        (v.name) " " span.version { (v.version) }
                        @if v.latest { " " span.tag data-latest { "latest" } }
                        @if v.deprecated.is_some() { " " span.badge.op-failed data-deprecated { "deprecated" } }
                    }
                    p { (v.description) }
                    dl.summary {
                        dt { "For" }
                        dd data-field="organizations" {
                            @match &v.organizations {
                                None => { "every organization" }
                                Some(orgs) => { (orgs.join(", ")) " only" }
                            }
                        }
                        @if let Some(why) = &v.deprecated {
                            dt { "Deprecated" } dd data-field="deprecated" { (why) }
                        }
                        dt { "Published" } dd { (format::time(v.created_at, zone)) }
                        dt { "Digest" } dd { code.small { (v.digest.chars().take(12).collect::<String>()) } }
                        dt { "Nodes" } dd { (metadata.nodes.min) " to " (metadata.nodes.max) ", " (metadata.nodes.default) " by default" }
                    }
                    @if metadata.variables.is_empty() {
                        p.none { "It takes no variables." }
                    } @else {
                        div.table-wrap tabindex="0" role="region" aria-label={"Variables of " (v.name) " " (v.version)} { table.stack {
                            thead { tr { th scope="col" { "Variable" } th scope="col" { "Type" } th scope="col" { "Default" } th scope="col" { "What it is" } } }
                            tbody { @for (name, spec) in &metadata.variables {
                                tr data-variable=(name) {
                                    td data-label="Variable" { code { (name) } @if spec.sensitive { " " span.tag { "sensitive" } } }
                                    td data-label="Type" {
                                        (kind(spec.kind))
                                        @if !spec.allowed.is_empty() { ": " (spec.allowed.join(", ")) }
                                    }
                                    td data-label="Default" {
                                        @match &spec.default {
                                            Some(d) if !spec.sensitive => { code.small { (d.to_string()) } }
                                            Some(_) => { span.none { "(sensitive)" } }
                                            None => { span.none { "required" } }
                                        }
                                    }
                                    td data-label="What it is" { (spec.description) }
                                }
                            } }
                        } }
                    }
                }
            }
        },
    )
}
