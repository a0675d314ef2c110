//! Wire types of Writ's HTTP JSON API, shared by the server and the `writ` CLI.
//! They carry plain strings and numbers, not domain types, so the wire format is
//! written down here once and the OpenAPI document is derived from it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error response: a machine-readable code and a sentence that says what to do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// e.g. `invalid_input`, `forbidden`, `not_found`, `conflict`, `unauthenticated`.
    pub error: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub groups: Vec<String>,
    /// Whether policy lets the caller read the audit log (`read_audit`).
    pub oversight: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// Whose access changes; defaults to the caller.
    #[serde(default)]
    pub subject: Option<String>,
    /// Entitlement ids, `target/name`.
    pub entitlements: Vec<String>,
    pub justification: String,
    /// e.g. `8h`, `30m`, `1h30m`.
    pub duration: String,
    #[serde(default)]
    pub ticket: Option<String>,
    /// The catalog's request type (`GET /v1/catalog/request-types`), e.g.
    /// `privileged_access`; `application_access` when absent. Its mandatory
    /// fields are checked (a missing one is a 422 naming it). A help-desk
    /// type that names access is re-routed to the governed path.
    #[serde(default)]
    pub request_type: Option<String>,
}

/// An approval's body, and a cancellation's: the reason is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    pub reason: String,
}

/// A denial's body: the reason is required.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// Why, for the requester and the evidence chain.
    pub reason: String,
}

/// Close an overdue removal by hand.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRemoval {
    /// How the access was removed and checked. Required.
    pub evidence: String,
}

/// End a grant early.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeGrant {
    /// Why, for the evidence chain. Required.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteTask {
    /// What was changed in the target, e.g. the command run and its output.
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StageView {
    pub entitlement: String,
    pub name: String,
    /// e.g. "members of group `security`".
    pub approvers: String,
    pub required: u32,
    pub approvals: Vec<String>,
    pub passed: bool,
    /// How long it may wait once open (`sla` in the catalog), e.g. `4h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<String>,
    /// When its approvers were reminded, waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<DateTime<Utc>>,
    /// Whom it was escalated to past its SLA (they may approve it too),
    /// e.g. "`mona`" or "members of group `security-leads`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewView {
    pub reviewer: String,
    pub verdict: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// `entitlement/stage` pairs the review counted toward.
    pub counted: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    pub action: String,
    pub entitlement: String,
    pub principal: String,
    pub allowed: bool,
    pub policy_ids: Vec<String>,
    pub errors: Vec<String>,
    pub at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub state: String,
    pub requester: String,
    pub subject: String,
    pub entitlements: Vec<String>,
    pub justification: String,
    pub duration: String,
    pub ticket: Option<String>,
    /// The catalog request type it was filed as.
    #[serde(default)]
    pub request_type: String,
    /// Filed as a help-desk type but naming access: re-routed to the
    /// governed path.
    #[serde(default)]
    pub rerouted: bool,
    pub created_at: DateTime<Utc>,
    pub lapses_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub outcome_reason: Option<String>,
    pub stages: Vec<StageView>,
    pub reviews: Vec<ReviewView>,
    pub decisions: Vec<DecisionView>,
    /// Where the fulfilment of each entitlement stands, once approved.
    #[serde(default)]
    pub fulfilment: Vec<FulfilmentView>,
    /// `standard`, `extension` (of `extends_grant`, from `extends_request`),
    /// `break_glass`, `reconciliation` (access found on a target) or `moved`
    /// (the owners' review of `reviews_grant`, which policy no longer allows
    /// since its holder moved).
    #[serde(default)]
    pub origin: String,
    /// For origin `moved`: the grant under review.
    #[serde(default)]
    pub reviews_grant: Option<String>,
    #[serde(default)]
    pub extends_grant: Option<String>,
    #[serde(default)]
    pub extends_request: Option<String>,
    /// The review a granted break-glass use owes.
    #[serde(default)]
    pub post_review: Option<PostReviewView>,
    pub version: u64,
}

/// The post-event review of a break-glass use.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostReviewView {
    /// `awaiting`, `overdue`, `accepted`, `rejected` or `resolved`.
    pub status: String,
    /// Overdue, or rejected and not resolved: listed until settled.
    pub exception: bool,
    /// Who may review it (any one of them).
    pub reviewers: Vec<String>,
    pub due_at: DateTime<Utc>,
    /// `accept` or `reject`, once reviewed.
    pub verdict: Option<String>,
    pub reviewed_by: Option<String>,
    pub review_note: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Ask to keep a grant's access longer: a new request through policy and approval.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendGrant {
    /// How long the new grant lasts once approved, e.g. `4h`.
    pub duration: String,
    pub justification: String,
    #[serde(default)]
    pub ticket: Option<String>,
}

/// The post-event review of a break-glass use.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassReview {
    /// `accept` or `reject`.
    pub verdict: String,
    /// What the reviewer checked. Required.
    pub note: String,
}

/// Settling a rejected break-glass use.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBreakGlass {
    /// What was done about it. Required.
    pub note: String,
}

/// The fulfilment of one entitlement of an approved request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FulfilmentView {
    pub entitlement: String,
    /// `queued`, `with_person`, `retrying`, `done` or `failed`.
    pub status: String,
    /// The target's own error, for `retrying` and `failed`.
    pub error: Option<String>,
    /// Attempts so far, for `retrying`.
    pub attempts: Option<u32>,
    /// When it is tried again, for `retrying`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was put in place (`done`) or given up (`failed`).
    pub at: Option<DateTime<Utc>>,
    /// For `done`: true when read back from the target, false when attested
    /// by a fulfiller's evidence.
    pub read_back: Option<bool>,
    /// For `with_person`: the task.
    pub task: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub id: String,
    pub request_id: String,
    pub subject: String,
    pub entitlement: String,
    pub fulfiller_group: String,
    /// `grant` (put the access in place) or `revoke` (take it away).
    #[serde(default = "grant_purpose")]
    pub purpose: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub completed_by: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    pub request_id: String,
    pub subject: String,
    pub entitlement: String,
    pub state: String,
    pub starts_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_reason: Option<String>,
    /// For `revoking`: why it ends, failed removal attempts, the target's last
    /// error and the next try.
    #[serde(default)]
    pub removal: Option<RemovalView>,
}

/// A removal in progress: the grant ended in Writ, the access is still being
/// taken away from the target.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemovalView {
    pub since: DateTime<Utc>,
    /// `expiry`, or `revoked by <who>: <reason>`.
    pub ending: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Still not proved removed after the configured window
    /// (`removal_overdue_after`): an exception to look at. Retries go on.
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEventView {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub request_id: Option<String>,
    /// Canonical JSON text, exactly as hashed.
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckpointView {
    pub size: u64,
    pub head: String,
    pub at: DateTime<Utc>,
    pub public_key: String,
    pub signature: String,
}

/// The whole evidence chain of one request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    pub request: RequestView,
    pub tasks: Vec<TaskView>,
    pub grants: Vec<GrantView>,
    pub events: Vec<AuditEventView>,
}

fn grant_purpose() -> String {
    "grant".to_owned()
}

/// A catalog target and the connector that serves it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TargetView {
    pub id: String,
    pub description: String,
    pub owners: Vec<String>,
    /// `manual`, `postgres`, `ldap`, `redis` or `scim`.
    pub kind: String,
    /// Where the connector connects (never with a secret); shown only to callers
    /// policy lets read the audit log (`read_audit`).
    pub endpoint: Option<String>,
    /// Changes are verified by reading the target back, and it can be reconciled.
    pub reads_live_state: bool,
    /// Accounts of non-human identities are created and removed by Writ.
    pub manages_accounts: bool,
    /// The grant's expiry is also set on the target itself.
    pub enforces_expiry: bool,
}

/// A request type of the catalog: what a request of it must carry, and its path.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestTypeView {
    pub id: String,
    pub description: String,
    /// `governed` (policy, approval, provisioning, read-back) or `help_desk`
    /// (recorded and closed; never grants access: one that names access is
    /// re-routed to `governed`).
    pub route: String,
    /// Fields a request of this type must carry: `entitlement`,
    /// `justification`, `duration`, `ticket`.
    pub mandatory: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CatalogEntitlement {
    pub id: String,
    pub description: String,
    pub risk: String,
    pub owners: Vec<String>,
    pub max_duration: String,
    pub stages: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityView {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub display_name: String,
    pub owner: Option<String>,
    pub manager: Option<String>,
    pub groups: Vec<String>,
    /// Set on a non-human identity whose owner left (was disabled), until it
    /// has an active owner again or is disabled.
    #[serde(default)]
    pub owner_left: Option<OwnerLeftView>,
    /// The stored version: pass it back as `version` to change the identity
    /// only if nobody changed it since.
    #[serde(default)]
    pub version: u64,
}

/// A non-human identity's owner left: who must settle it, and by when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OwnerLeftView {
    /// The owner who left.
    pub owner: String,
    /// When the owner was disabled.
    pub at: DateTime<Utc>,
    /// Who is asked to give it a new owner or disable it: the leaver's manager.
    pub flagged_to: Option<String>,
    pub due_at: DateTime<Utc>,
    /// Past `due_at` and still not settled.
    pub overdue: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    /// `active` or `disabled`.
    pub status: String,
    /// The version the caller read (`IdentityView.version`): if the identity
    /// changed since, the change is refused (409) instead of overwriting it.
    #[serde(default, deserialize_with = "whole_number")]
    pub version: Option<u64>,
}

/// A whole number: JSON Schema counts `3.0` as the integer 3, so the API
/// does too; `3.5` and negative numbers are refused.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    if let Some(whole) = n.as_u64() {
        return Ok(Some(whole));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&f) => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!("`{n}` is not a whole number from 0 up"))),
    }
}

/// One identity as an identities file declares it (`writ identity apply`):
/// the fields of `writ init`'s `identities.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRecord {
    pub id: String,
    /// `person`, `service_account`, `api_key` or `ai_agent`.
    pub kind: String,
    /// `active` or `disabled`.
    pub status: String,
    #[serde(default)]
    pub display_name: String,
    /// The person accountable for a non-human identity (required for one).
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Make the identity registry what a file declares (`POST /v1/identities/apply`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyIdentities {
    /// Every identity of the organisation: those listed are created or
    /// updated, active ones left out are disabled.
    pub identities: Vec<IdentityRecord>,
    /// Only report what would change; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What applying an identities file changes (or, in a dry run, would).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityDiffView {
    pub dry_run: bool,
    /// Identities in the file and not in the registry.
    pub created: Vec<IdentityRecord>,
    /// Identities in both whose fields differ.
    pub changed: Vec<IdentityChangeView>,
    /// Ids of the active identities the file leaves out: disabled.
    pub disabled: Vec<String>,
    /// How many identities of the file already were as it says.
    pub unchanged: u64,
}

/// An identity the file changes, field by field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityChangeView {
    pub id: String,
    pub changes: Vec<FieldChangeView>,
}

/// One field's value before and after: a text, an id or `null`, a list of
/// groups, or a map of attributes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FieldChangeView {
    /// `kind`, `status`, `display_name`, `owner`, `manager`, `groups` or `attributes`.
    pub field: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub database: String,
    pub audit_events: u64,
}

/// Start reconciliation runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartReconcile {
    /// One target; absent: every target Writ can read.
    #[serde(default)]
    pub target: Option<String>,
}

/// A run that was started.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunStarted {
    pub run: String,
    pub target: String,
}

/// A reconciliation run: under way, done, or failed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub target: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub by: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Live rows read (so far, while running).
    pub live_rows: u64,
    /// Observations by situation (`matched`, `unapproved`, …); empty while running.
    pub counts: std::collections::BTreeMap<String, u64>,
    /// Share of live entitlements (ignored aside) that trace to an approved grant.
    pub match_rate: Option<f64>,
    /// The reaction configured for each situation.
    pub reactions: std::collections::BTreeMap<String, String>,
    /// Actions taken, by reaction.
    pub actions: std::collections::BTreeMap<String, u64>,
    pub error: Option<String>,
}

/// What was done about one observation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionView {
    pub reaction: String,
    pub request: Option<String>,
    pub grant: Option<String>,
    pub outcome: String,
}

/// One exception a run found (matched rows are counted, not listed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ObservationView {
    pub situation: String,
    pub account: String,
    pub resource: String,
    pub identity: Option<String>,
    pub grant: Option<String>,
    #[serde(default)]
    pub live_detail: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub expected: std::collections::BTreeMap<String, String>,
    pub note: String,
    pub action: Option<ActionView>,
}

/// A run and its exceptions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunReport {
    pub run: RunView,
    pub observations: Vec<ObservationView>,
}

#[cfg(test)]
mod tests {
    use super::SetStatus;

    #[test]
    fn a_version_is_a_whole_number_however_written() {
        for (json, want) in
            [(r#"{"status":"active","version":3}"#, Some(3)), (r#"{"status":"active","version":3.0}"#, Some(3)), (r#"{"status":"active"}"#, None)]
        {
            assert_eq!(serde_json::from_str::<SetStatus>(json).unwrap().version, want, "{json}");
        }
        for json in [r#"{"status":"active","version":3.5}"#, r#"{"status":"active","version":-1}"#, r#"{"status":"active","version":"3"}"#] {
            let e = serde_json::from_str::<SetStatus>(json).unwrap_err().to_string();
            assert!(e.contains("version") || e.contains("whole number") || e.contains("invalid type"), "{json}: {e}");
        }
    }
}

/// Create an API token (`POST /v1/tokens`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Where it is used, e.g. `laptop` or `ci-deploy`: one line.
    pub name: String,
    /// Who it authenticates as; defaults to the caller. Another identity
    /// takes being its owner (a non-human identity) or policy's `manage_identities`.
    #[serde(default)]
    pub identity: Option<String>,
    /// How long it lasts, e.g. `30d`. Required for a non-human identity;
    /// a person's token lasts the configured maximum when absent.
    #[serde(default)]
    pub expires: Option<String>,
    /// `read` (reads only) or `request` (submit and cancel requests, read
    /// one's own); absent: whatever policy allows the identity.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A token's record: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    /// Who it authenticates as.
    pub identity: String,
    /// Who answers for it: the person it authenticates as, or the owner of
    /// the non-human identity it authenticates as.
    pub owner: String,
    /// Who issued it: an identity, or `operator` (`writ init`).
    pub created_by: String,
    pub name: String,
    pub scope: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Absent: never (tokens issued before expiry existed).
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// To within a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token just created, with its secret: shown this once, never again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    /// The bearer token itself (`writ_…`).
    pub secret: String,
}

/// How to sign in to this server with the organisation's OpenID provider
/// (`GET /v1/auth/oidc`): what `writ login` needs besides the server's URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OidcInfo {
    /// The provider's issuer URL; its discovery document is under `/.well-known/openid-configuration`.
    pub issuer: String,
    /// Writ's client id at the provider: the audience its ID tokens must name.
    pub client_id: String,
    /// The scopes to ask for, space-separated.
    pub scopes: String,
}

/// Exchange an ID token of the organisation's provider for a Writ token
/// (`POST /v1/auth/oidc/token`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcSignIn {
    /// The ID token (a JWT) the provider issued to Writ's client id.
    pub id_token: String,
    /// The nonce the client put in its authorization request, if it sent one:
    /// the ID token must carry the same.
    #[serde(default)]
    pub nonce: Option<String>,
    /// The Writ token's name, e.g. `writ login (laptop)`; default `writ login`.
    #[serde(default)]
    pub name: Option<String>,
}

/// A ticket to take in (from a service desk, chat, or anyone's free text).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// The system it comes from, e.g. `request-tracker`, `jira`, `api`.
    pub source: String,
    /// Its number there: a second delivery of the same ticket changes nothing.
    pub external_ref: String,
    /// The Writ identity of whoever filed it (unknown or disabled: 403).
    pub requester: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub body: String,
    /// Its request type, if the source states it (a catalog item); otherwise
    /// the classifier reads the text.
    #[serde(default)]
    pub request_type: Option<String>,
    /// For a governed ticket that already says what access it wants: the
    /// entitlements (`target/name`) and `duration`; its request is filed at once.
    #[serde(default)]
    pub entitlements: Vec<String>,
    #[serde(default)]
    pub duration: Option<String>,
    /// The justification; the ticket's subject and body when absent.
    #[serde(default)]
    pub justification: Option<String>,
}

/// What a governed ticket's request needs: which access, how long, and why
/// (the ticket's text when absent).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketDetailsBody {
    pub entitlements: Vec<String>,
    pub duration: String,
    #[serde(default)]
    pub justification: Option<String>,
}

/// A request type chosen for a ticket (triage, or re-routing to a governed type).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketTypeBody {
    pub request_type: String,
}

/// How the help desk proofed a requester's identity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofBody {
    pub method: String,
}

/// What the help desk did to close a ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    pub resolution: String,
}

/// A ticket and its route.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    pub id: String,
    pub source: String,
    pub external_ref: String,
    pub requester: String,
    pub subject: String,
    pub body: String,
    /// `triage`, `needs_details`, `filed`, `help_desk`, `proofed` or `resolved`.
    pub state: String,
    /// The type it was routed as, once it has one.
    pub request_type: Option<String>,
    /// The route of that type: `governed` or `help_desk`.
    pub route: Option<String>,
    /// What the classifier predicted, with its confidence.
    pub predicted: Option<String>,
    pub confidence: Option<f64>,
    /// A person's choice in triage, and whether it agreed with the prediction.
    pub triaged_as: Option<String>,
    pub triage_agreed: Option<bool>,
    /// For `needs_details`: what the requester must still say.
    #[serde(default)]
    pub missing: Vec<String>,
    /// For `filed`: its Writ request.
    pub request_id: Option<String>,
    /// A help-desk ticket found to change access, sent to the governed path.
    pub rerouted: bool,
    pub proofed_by: Option<String>,
    pub resolution: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the ticket was taken in before: nothing was written.
    #[serde(default)]
    pub already_taken: bool,
    /// Why its request could not be filed yet (a field missing or wrong).
    #[serde(default)]
    pub not_filed: Option<String>,
}
