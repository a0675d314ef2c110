//! Approvals from Slack: `POST /slack/interactions`, where Slack sends the
//! clicks on the approval message's buttons and the reason dialog's
//! submission (`[slack]` in writ.toml; absent, the route answers 404).
//!
//! Not under bearer auth: a request is Slack's when its v0 signature over
//! the raw body verifies within five minutes of Writ's clock
//! ([`signature`]). Then, in this order, each refusal writing nothing: the
//! payload is read ([`payload`]); the Slack user is mapped to the one active
//! identity whose attribute (`slack_user_id` by default) holds its id; the
//! request must be one that identity may review now (`review_context`: not
//! its requester or subject, a stage it can act on); the delivery is
//! recorded once (`accept_delivery`, keyed by the signature, so a replay
//! inside the window is a 409). Only then does it act, through the same
//! `Writ::review` as the API, with the same policy and separation-of-duties
//! checks: Approve reviews at once; Deny opens the reason dialog
//! (`views.open`), whose submission denies with the typed reason.
//!
//! Answers: an accepted click is 200 with `{"text": …}` saying what
//! happened, and once the request is approved or denied the message's
//! buttons are replaced by that text (`chat.update`, after answering, so
//! Slack's 3 s limit holds). A bad or
//! missing signature or a stale timestamp is 401, a malformed or foreign
//! payload 400, an unknown or disabled Slack user or a click by someone who
//! may not review the request 403, a replay 409, each with the API's JSON
//! error body. A dialog submission is answered as Slack's dialogs expect:
//! a blank reason, or a refusal of the deny by the domain, is 200 with
//! `{"response_action":"errors"}` naming it under the reason field (Slack
//! shows nothing else to the person), and success is `{"response_action":"clear"}`.

pub mod config;
pub mod payload;
pub mod signature;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use writ_app::AppError;
use writ_connectors::slack::{deny_reason_view, outcome_message, REASON_BLOCK};
use writ_core::identity::Identity;
use writ_core::ids::RequestId;
use writ_core::request::{Request, RequestState};
use writ_core::review::Verdict;

pub use config::{SlackConfig, SlackService};
use payload::{Button, Click, DenyReason, Interaction};
use signature::SignatureError;

use crate::error::ApiError;
use crate::serve::App;

/// The source name deliveries are recorded under.
const SOURCE: &str = "slack";
/// The reason an approval from Slack is recorded with.
const APPROVED_IN_SLACK: &str = "approved in Slack";

pub fn router() -> Router<App> {
    Router::new().route("/slack/interactions", post(interactions))
}

async fn interactions(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&app, &headers, &body).await {
        Ok(answer) => answer,
        Err(e) => e.into_response(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn unsigned(e: SignatureError) -> ApiError {
    let code = match e {
        SignatureError::Stale(_) => "stale_request",
        _ => "bad_signature",
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string())
}

/// A delivery's id: what makes it unique is its signature (over its
/// timestamp and body), so a replay, byte for byte, has the same one. Its
/// hash is recorded, not the MAC itself.
fn delivery_id(signature: &str) -> String {
    hex::encode(&Sha256::digest(signature.trim().as_bytes())[..16])
}

async fn handle(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let Some(slack) = app.slack.clone() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "Slack approvals are not configured on this server: add `[slack]` to writ.toml"));
    };
    let now = app.writ.clock().now().timestamp();
    let signature = header(headers, "x-slack-signature");
    signature::verify(slack.signing_secret(), header(headers, "x-slack-request-timestamp"), signature, body, now).map_err(unsigned)?;
    let interaction = payload::parse(body).map_err(|e| ApiError::bad_input(e.to_string()))?;
    let actor = app.writ.identity_by_attribute(&slack.identity_attribute, interaction.user()).await?;
    let delivery = delivery_id(signature.unwrap_or_default());
    match interaction {
        Interaction::Click(click) => on_click(app, &slack, &actor, &delivery, click).await,
        Interaction::DenyReason(deny) => on_deny_reason(app, &slack, &actor, &delivery, deny).await,
    }
}

/// Refuses, writing nothing, a click or dialog on a request `actor` cannot
/// review now. Only a pre-check: `Writ::review` decides, as for the API.
async fn may_review(app: &App, actor: &Identity, id: RequestId) -> Result<(), ApiError> {
    match app.writ.review_context(actor, id).await {
        Ok(_) => Ok(()),
        Err(AppError::NotFound { .. }) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`{}` may not review request `{id}`: it is not waiting for a stage they can approve (a requester or subject never reviews their own request, and a request already settled takes no more reviews)",
                actor.id
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

fn said(req: &Request, actor: &Identity, verb: &str) -> String {
    let state = match req.state() {
        RequestState::Pending => "it waits for its other stages".to_owned(),
        other => format!("it is now {}", other.as_str()),
    };
    format!(
        "{} {verb} request {} for {} ({}): {state}.",
        actor.id,
        req.id(),
        req.subject(),
        req.entitlements().iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )
}

async fn on_click(app: &App, slack: &Arc<SlackService>, actor: &Identity, delivery: &str, click: Click) -> Result<Response, ApiError> {
    may_review(app, actor, click.request).await?;
    let action = match click.button {
        Button::Approve => writ_connectors::slack::APPROVE_ACTION,
        Button::Deny => writ_connectors::slack::DENY_ACTION,
    };
    // What it carried, for the audit log: the button and the request.
    app.writ.accept_delivery(actor, SOURCE, delivery, &format!("block_actions {action} {}", click.request)).await?;
    match click.button {
        Button::Approve => {
            let req = app.writ.review(actor, click.request, Verdict::Approve, APPROVED_IN_SLACK.into()).await?;
            let text = said(&req, actor, "approved");
            tracing::info!(request = %req.id(), reviewer = %actor.id, "approved in Slack");
            replace_buttons(slack, click.message, &text);
            Ok((StatusCode::OK, Json(json!({ "text": text }))).into_response())
        }
        Button::Deny => {
            let message = click.message.as_ref().map(|(channel, ts)| (channel.as_str(), ts.as_str()));
            slack.client.open_view(&click.trigger_id, &deny_reason_view(&click.request.to_string(), message)).await.map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "slack_failed",
                    format!("the reason dialog could not be opened ({e}): click Deny again, or deny in Writ"),
                )
            })?;
            Ok((StatusCode::OK, Json(json!({ "text": format!("asking {} why request {} is denied", actor.id, click.request) }))).into_response())
        }
    }
}

/// Replaces the approval message's buttons with what happened, after the
/// answer is sent (Slack wants it within 3 s); a failure is only logged.
fn replace_buttons(slack: &Arc<SlackService>, message: Option<(String, String)>, text: &str) {
    let Some((channel, ts)) = message else { return };
    let client = slack.client.clone();
    let message = outcome_message(text);
    tokio::spawn(async move {
        if let Err(e) = client.update_message(&channel, &ts, &message).await {
            tracing::warn!(error = %e, "the Slack approval message could not be updated");
        }
    });
}

/// The dialog's answer that shows `message` under its reason field.
fn dialog_error(message: &str) -> Response {
    let errors: Value = json!({ REASON_BLOCK: message });
    (StatusCode::OK, Json(json!({ "response_action": "errors", "errors": errors }))).into_response()
}

async fn on_deny_reason(app: &App, slack: &Arc<SlackService>, actor: &Identity, delivery: &str, deny: DenyReason) -> Result<Response, ApiError> {
    if deny.reason.trim().is_empty() {
        return Ok(dialog_error("Say why the request is denied: the requester sees this reason."));
    }
    if let Err(refused) = may_review(app, actor, deny.request).await {
        return Ok(dialog_error(&refused.message));
    }
    app.writ.accept_delivery(actor, SOURCE, delivery, &format!("view_submission {} {}", writ_connectors::slack::DENY_VIEW, deny.request)).await?;
    match app.writ.review(actor, deny.request, Verdict::Deny, deny.reason.clone()).await {
        Ok(req) => {
            tracing::info!(request = %req.id(), reviewer = %actor.id, "denied in Slack");
            replace_buttons(slack, deny.message, &format!("{} Reason: {}", said(&req, actor, "denied"), deny.reason.trim()));
            Ok((StatusCode::OK, Json(json!({ "response_action": "clear" }))).into_response())
        }
        Err(e @ (AppError::Domain(_) | AppError::Forbidden { .. })) => Ok(dialog_error(&ApiError::from(e).message)),
        Err(e) => Err(e.into()),
    }
}
