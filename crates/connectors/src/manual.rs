//! The manual connector, for systems without an API: every change becomes a task
//! for the target's fulfiller group, who carry it out and record evidence.

use async_trait::async_trait;
use writ_app::ports::{Connector, ConnectorError, Order, Outcome};
use writ_core::ids::GroupId;

pub struct ManualConnector {
    fulfillers: GroupId,
}

impl ManualConnector {
    pub fn new(fulfillers: GroupId) -> Self {
        Self { fulfillers }
    }
}

#[async_trait]
impl Connector for ManualConnector {
    fn kind(&self) -> &'static str {
        "manual"
    }

    async fn grant(&self, _order: &Order) -> Result<Outcome, ConnectorError> {
        Ok(Outcome::NeedsPerson { group: self.fulfillers.clone() })
    }

    async fn revoke(&self, _order: &Order) -> Result<Outcome, ConnectorError> {
        Ok(Outcome::NeedsPerson { group: self.fulfillers.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_core::ids::{EntitlementId, IdentityId, RequestId};

    #[tokio::test]
    async fn every_change_goes_to_the_fulfiller_group() {
        let c = ManualConnector::new(GroupId::parse("dba").unwrap());
        let order = Order {
            request: RequestId::parse("req-00000000000000000000000000000001").unwrap(),
            subject: IdentityId::parse("alice").unwrap(),
            entitlement: EntitlementId::parse("pg-prod/readonly").unwrap(),
        };
        let want = Outcome::NeedsPerson { group: GroupId::parse("dba").unwrap() };
        assert_eq!(c.grant(&order).await.unwrap(), want);
        assert_eq!(c.revoke(&order).await.unwrap(), want);
        assert_eq!(c.kind(), "manual");
    }
}
