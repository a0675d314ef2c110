//! What every front door (a service desk's webhook, a chat's buttons) needs
//! before it may act: the Writ identity behind an account elsewhere, and a
//! record of each delivery, so that a delivery replayed (captured and sent
//! again inside its signature window) is refused rather than acted on twice.

use serde_json::json;
use writ_core::identity::Identity;

use crate::events::{self, general};
use crate::ports::{Change, Delivery, StoreError};
use crate::{AppError, Writ};

impl Writ {
    /// The one active identity whose attribute `key` (e.g. `slack_user_id`,
    /// `jira_account_id`, `email`) equals `value`: the Writ person behind an
    /// account in another system. None, several (ambiguous) or a disabled
    /// one is refused: a front door never guesses who is acting.
    pub async fn identity_by_attribute(&self, key: &str, value: &str) -> Result<Identity, AppError> {
        let value = value.trim();
        let refused =
            |reason: String| AppError::Forbidden { who: format!("{key} `{}`", value.escape_debug()), action: "act through this front door".into(), reason };
        if value.is_empty() {
            return Err(refused("the account is blank: the sender named no user".into()));
        }
        let found = self.store.identities_with_attribute(key, value).await?;
        match found.as_slice() {
            [] => Err(refused(format!("no Writ identity has the attribute `{key}` with this value: link the account by giving the person that attribute"))),
            [one] if one.is_active() => Ok(one.clone()),
            [one] => Err(refused(format!("it is Writ identity `{}`, which is disabled", one.id))),
            many => {
                let ids: Vec<String> = many.iter().map(|i| i.id.to_string()).collect();
                Err(refused(format!("several Writ identities have it ({}): give the attribute to one only", ids.join(", "))))
            }
        }
    }

    /// Records that `source` delivered `delivery_id`, with a `webhook.accepted`
    /// event by `actor` saying `what` it carried. Call it once the signature,
    /// the payload and the identities were checked (so a bad delivery writes
    /// nothing), before acting on it: the same delivery again is
    /// [`AppError::Replayed`], and nothing is written.
    pub async fn accept_delivery(&self, actor: &Identity, source: &str, delivery_id: &str, what: &str) -> Result<(), AppError> {
        let (source, id) = (source.trim(), delivery_id.trim());
        if source.is_empty() || id.is_empty() || id.len() > 512 {
            return Err(writ_core::DomainError::invalid("delivery", "a delivery needs its source and an id of at most 512 characters").into());
        }
        let now = self.clock.now();
        let event = general(events::WEBHOOK_ACCEPTED, actor.id.as_str(), now, json!({ "source": source, "delivery": id, "what": what }));
        let delivery = Delivery { source: source.to_owned(), id: id.to_owned(), at: now };
        match self.commit(Change { deliveries: vec![delivery], events: vec![event], ..Change::default() }).await {
            Ok(_) => Ok(()),
            Err(StoreError::Duplicate { what: "delivery", .. }) => Err(AppError::Replayed { sender: source.to_owned(), id: id.to_owned() }),
            Err(e) => Err(e.into()),
        }
    }
}
