//! The manual connector, for systems without an API: every change becomes a task
//! for the target's fulfiller group, who carry it out and record evidence. It
//! cannot read the target, so its changes are proved by that evidence alone.

use async_trait::async_trait;
use writ_app::ports::{Account, AccountState, Applied, Connector, ConnectorError, ConnectorInfo, LiveEntitlement, Order};
use writ_core::ids::{GroupId, TargetId};

pub struct ManualConnector {
    target: TargetId,
    fulfillers: GroupId,
}

impl ManualConnector {
    pub fn new(target: TargetId, fulfillers: GroupId) -> Self {
        Self { target, fulfillers }
    }

    fn cannot_read(&self) -> ConnectorError {
        ConnectorError::Permanent {
            target: self.target.to_string(),
            detail: format!("`{}` is fulfilled by hand (group `{}`): Writ cannot read its live state", self.target, self.fulfillers),
        }
    }
}

#[async_trait]
impl Connector for ManualConnector {
    fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            kind: "manual",
            target: self.target.to_string(),
            endpoint: format!("people in group `{}`", self.fulfillers),
            reads_live_state: false,
            manages_accounts: false,
            enforces_expiry: false,
        }
    }

    async fn read_account(&self, _account: &Account) -> Result<AccountState, ConnectorError> {
        Err(self.cannot_read())
    }

    async fn scan(&self, _sink: &mut (dyn FnMut(LiveEntitlement) + Send)) -> Result<u64, ConnectorError> {
        Err(self.cannot_read())
    }

    async fn grant(&self, _order: &Order) -> Result<Applied, ConnectorError> {
        Ok(Applied::NeedsPerson { group: self.fulfillers.clone() })
    }

    async fn revoke(&self, _order: &Order) -> Result<Applied, ConnectorError> {
        Ok(Applied::NeedsPerson { group: self.fulfillers.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_core::identity::IdentityKind;
    use writ_core::ids::{EntitlementId, IdentityId, RequestId};

    #[tokio::test]
    async fn every_change_goes_to_the_fulfiller_group_and_nothing_can_be_read() {
        let c = ManualConnector::new(TargetId::parse("pg-prod").unwrap(), GroupId::parse("dba").unwrap());
        let account = Account { name: "alice".into(), kind: IdentityKind::Person };
        let order = Order {
            request: RequestId::parse("req-00000000000000000000000000000001").unwrap(),
            subject: IdentityId::parse("alice").unwrap(),
            account: account.clone(),
            entitlement: EntitlementId::parse("pg-prod/readonly").unwrap(),
            resource: "readonly".into(),
            expires_at: None,
        };
        let want = Applied::NeedsPerson { group: GroupId::parse("dba").unwrap() };
        assert_eq!(c.grant(&order).await.unwrap(), want);
        assert_eq!(c.revoke(&order).await.unwrap(), want);
        assert!(!c.info().reads_live_state);
        let e = c.read_account(&account).await.unwrap_err();
        assert!(!e.is_transient() && e.to_string().contains("by hand"), "{e}");
    }
}
