//! What Slack POSTs to the interaction endpoint: a form body with one field,
//! `payload`, holding JSON. Two kinds are Writ's: `block_actions` (a click on
//! the approval message's Approve or Deny button) and `view_submission` (the
//! reason dialog a Deny opens). Anything else is refused, named.

use serde::Deserialize;
use writ_connectors::slack::{APPROVE_ACTION, DENY_ACTION, DENY_VIEW, REASON_BLOCK, REASON_INPUT};
use writ_core::ids::RequestId;

/// One interaction Writ acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Click(Click),
    DenyReason(DenyReason),
}

impl Interaction {
    /// The Slack user who acted.
    pub fn user(&self) -> &str {
        match self {
            Interaction::Click(c) => &c.user,
            Interaction::DenyReason(d) => &d.user,
        }
    }

    /// The payload type, as Slack names it (recorded with the delivery).
    pub fn kind(&self) -> &'static str {
        match self {
            Interaction::Click(_) => "block_actions",
            Interaction::DenyReason(_) => "view_submission",
        }
    }

    pub fn request(&self) -> RequestId {
        match self {
            Interaction::Click(c) => c.request,
            Interaction::DenyReason(d) => d.request,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Approve,
    Deny,
}

/// A click on Approve or Deny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub user: String,
    pub button: Button,
    pub request: RequestId,
    /// Opens the reason dialog; Slack honours it for 3 seconds.
    pub trigger_id: String,
    /// The message clicked on (channel, ts), to say there what happened.
    pub message: Option<(String, String)>,
}

/// The reason dialog, submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyReason {
    pub user: String,
    pub request: RequestId,
    /// As typed; may be blank (the handler answers with the dialog's error).
    pub reason: String,
    /// The message whose Deny opened the dialog (channel, ts).
    pub message: Option<(String, String)>,
}

/// Why a body is not an interaction Writ acts on. The text says what was
/// wrong; a payload is never echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body must be a form with exactly one `payload` field (Content-Type: application/x-www-form-urlencoded), as Slack sends interactions")]
    NoPayload,
    #[error("`payload` is not a Slack interaction: {0}")]
    Malformed(String),
    #[error("payload type `{0}` is not handled here: only `block_actions` (the Approve/Deny buttons) and `view_submission` (the reason dialog)")]
    UnknownType(String),
    #[error("action `{0}` is not Writ's: the approval message's buttons are `{APPROVE_ACTION}` and `{DENY_ACTION}`")]
    UnknownAction(String),
    #[error("view `{0}` is not Writ's: the reason dialog is `{DENY_VIEW}`")]
    UnknownView(String),
    #[error("`{0}` is not a request id: the buttons and the dialog carry the id of the request they are about")]
    BadRequestId(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct User {
    id: String,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct BlockActions {
    user: User,
    trigger_id: String,
    actions: Vec<Action>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    channel: Option<Id>,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct ViewSubmission {
    user: User,
    view: View,
}

#[derive(Deserialize)]
struct View {
    callback_id: String,
    private_metadata: String,
    state: ViewState,
}

#[derive(Deserialize)]
struct ViewState {
    values: std::collections::BTreeMap<String, std::collections::BTreeMap<String, InputValue>>,
}

/// What the dialog carries from the click (`deny_reason_view`).
#[derive(Deserialize)]
struct Metadata {
    request: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

#[derive(Deserialize)]
struct InputValue {
    #[serde(default)]
    value: Option<String>,
}

fn request_id(raw: &str) -> Result<RequestId, PayloadError> {
    RequestId::parse(raw.trim()).map_err(|_| PayloadError::BadRequestId(raw.chars().take(64).collect()))
}

fn malformed(e: serde_json::Error) -> PayloadError {
    PayloadError::Malformed(e.to_string())
}

/// Decodes a form body (`+` and `%20` both spaces) and reads its interaction.
pub fn parse(body: &[u8]) -> Result<Interaction, PayloadError> {
    let mut payloads = form_urlencoded::parse(body).filter(|(k, _)| k == "payload").map(|(_, v)| v);
    let (Some(json), None) = (payloads.next(), payloads.next()) else { return Err(PayloadError::NoPayload) };
    let envelope: Envelope = serde_json::from_str(&json).map_err(malformed)?;
    match envelope.kind.as_str() {
        "block_actions" => {
            let p: BlockActions = serde_json::from_str(&json).map_err(malformed)?;
            // Writ's message has one actions block, so a click is one action.
            let [action] = p.actions.as_slice() else { return Err(PayloadError::Malformed(format!("{} actions, expected one click", p.actions.len()))) };
            let button = match action.action_id.as_str() {
                APPROVE_ACTION => Button::Approve,
                DENY_ACTION => Button::Deny,
                other => return Err(PayloadError::UnknownAction(other.chars().take(64).collect())),
            };
            let request = request_id(action.value.as_deref().unwrap_or_default())?;
            let container = p.container.as_ref();
            let channel = container.and_then(|c| c.channel_id.clone()).or(p.channel.map(|c| c.id));
            let message = channel.zip(container.and_then(|c| c.message_ts.clone()));
            Ok(Interaction::Click(Click { user: p.user.id, button, request, trigger_id: p.trigger_id, message }))
        }
        "view_submission" => {
            let p: ViewSubmission = serde_json::from_str(&json).map_err(malformed)?;
            if p.view.callback_id != DENY_VIEW {
                return Err(PayloadError::UnknownView(p.view.callback_id.chars().take(64).collect()));
            }
            let metadata: Metadata = serde_json::from_str(&p.view.private_metadata)
                .map_err(|e| PayloadError::Malformed(format!("the dialog's `private_metadata` is not the one Writ opened it with: {e}")))?;
            let request = request_id(&metadata.request)?;
            let reason = p.view.state.values.get(REASON_BLOCK).and_then(|b| b.get(REASON_INPUT)).and_then(|i| i.value.clone()).unwrap_or_default();
            Ok(Interaction::DenyReason(DenyReason { user: p.user.id, request, reason, message: metadata.channel.zip(metadata.ts) }))
        }
        other => Err(PayloadError::UnknownType(other.chars().take(64).collect())),
    }
}

/// Test payloads: Slack's captured shapes with Writ's ids put in.
#[cfg(test)]
pub(crate) mod fixtures {
    use serde_json::{json, Value};

    pub fn load(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/webhooks/slack").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// The captured button click, on `action_id` with `value`, by `user`.
    pub fn click(action_id: &str, value: &str, user: &str) -> Value {
        let mut p = load("block_actions_message_button.json");
        p["actions"][0]["action_id"] = json!(action_id);
        p["actions"][0]["value"] = json!(value);
        p["user"]["id"] = json!(user);
        p
    }

    pub fn form(payload: &Value) -> String {
        form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use serde_json::json;

    fn id() -> RequestId {
        RequestId::from_uuid(uuid::Uuid::from_u128(7))
    }

    #[test]
    fn the_captured_click_decodes_and_its_foreign_action_is_named() {
        let v = load("signing_test_vector_block_actions_derived.json");
        let e = parse(v["body"].as_str().unwrap().as_bytes()).unwrap_err();
        assert_eq!(e, PayloadError::UnknownAction("button".into()));
        let e = parse(form(&load("block_actions_slack_docs_example.json")).as_bytes()).unwrap_err();
        assert_eq!(e, PayloadError::UnknownAction("WaXA".into()));
    }

    #[test]
    fn approve_and_deny_clicks_carry_the_request_the_user_and_the_message() {
        let id = id().to_string();
        let Interaction::Click(c) = parse(form(&click(APPROVE_ACTION, &id, "U0MONA")).as_bytes()).unwrap() else { panic!("a click") };
        assert_eq!((c.button, c.request.to_string(), c.user.as_str()), (Button::Approve, id.clone(), "U0MONA"));
        assert_eq!(c.trigger_id, "4916855695380.xxx.yyy");
        assert_eq!(c.message, Some(("C111".into(), "1678252213.679169".into())));
        let deny = parse(form(&click(DENY_ACTION, &id, "U0MONA")).as_bytes()).unwrap();
        assert!(matches!(deny, Interaction::Click(Click { button: Button::Deny, .. })), "{deny:?}");
        assert_eq!(deny.kind(), "block_actions");
    }

    #[test]
    fn spaces_may_arrive_as_plus_or_percent_20() {
        let id = id().to_string();
        let mut p = click(APPROVE_ACTION, &id, "U0MONA");
        p["message"]["text"] = json!("a b c");
        let plus = form(&p);
        assert!(plus.contains("a+b+c"), "form_urlencoded writes `+`: {plus}");
        let pct = plus.replace('+', "%20");
        assert_eq!(parse(plus.as_bytes()).unwrap(), parse(pct.as_bytes()).unwrap());
    }

    #[test]
    fn the_dialog_submission_carries_the_typed_reason() {
        let id = id().to_string();
        let mut view =
            json!({ "type": "view_submission", "user": { "id": "U0MONA" }, "view": writ_connectors::slack::deny_reason_view(&id, Some(("C1", "17.5"))) });
        view["view"]["state"] = json!({ "values": { REASON_BLOCK: { REASON_INPUT: { "type": "plain_text_input", "value": "not needed for this role" } } } });
        let got = parse(form(&view).as_bytes()).unwrap();
        let message = Some(("C1".to_owned(), "17.5".to_owned()));
        let reason = "not needed for this role".to_owned();
        assert_eq!(got, Interaction::DenyReason(DenyReason { user: "U0MONA".into(), request: RequestId::parse(&id).unwrap(), reason, message }));
        let mut bare = view.clone();
        bare["view"]["private_metadata"] = json!(id);
        assert!(matches!(parse(form(&bare).as_bytes()).unwrap_err(), PayloadError::Malformed(m) if m.contains("private_metadata")));
        let mut empty = view.clone();
        empty["view"]["state"]["values"] = json!({ REASON_BLOCK: { REASON_INPUT: { "type": "plain_text_input", "value": null } } });
        assert!(matches!(parse(form(&empty).as_bytes()).unwrap(), Interaction::DenyReason(DenyReason { ref reason, .. }) if reason.is_empty()));
        let mut other = view;
        other["view"]["callback_id"] = json!("someone_elses");
        assert_eq!(parse(form(&other).as_bytes()).unwrap_err(), PayloadError::UnknownView("someone_elses".into()));
    }

    #[test]
    fn anything_else_is_refused_by_name() {
        assert_eq!(parse(b"").unwrap_err(), PayloadError::NoPayload);
        assert_eq!(parse(b"payload=1&payload=2").unwrap_err(), PayloadError::NoPayload, "two payloads");
        assert_eq!(parse(b"text=hello").unwrap_err(), PayloadError::NoPayload);
        assert!(matches!(parse(b"payload=%7Bnot").unwrap_err(), PayloadError::Malformed(_)));
        let shortcut = form(&json!({ "type": "shortcut", "user": { "id": "U1" } }));
        assert_eq!(parse(shortcut.as_bytes()).unwrap_err(), PayloadError::UnknownType("shortcut".into()));
        assert!(parse(shortcut.as_bytes()).unwrap_err().to_string().contains("`shortcut`"));
        assert_eq!(parse(form(&click(APPROVE_ACTION, "../etc", "U1")).as_bytes()).unwrap_err(), PayloadError::BadRequestId("../etc".into()));
        let mut two = click(APPROVE_ACTION, &id().to_string(), "U1");
        two["actions"] = json!([two["actions"][0], two["actions"][0]]);
        assert!(matches!(parse(form(&two).as_bytes()).unwrap_err(), PayloadError::Malformed(_)));
    }
}
