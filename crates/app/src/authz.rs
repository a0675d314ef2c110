//! Who may see what. Acting (submit, review, fulfil) is decided by the use-cases
//! and by policy; this module decides visibility of records.

use writ_core::identity::Identity;
use writ_core::request::Request;
use writ_core::task::FulfilmentTask;

use crate::Writ;

impl Writ {
    /// Members of an oversight group (security, auditors) see everything.
    pub fn has_oversight(&self, actor: &Identity) -> bool {
        actor.is_active() && actor.groups.iter().any(|g| self.settings.oversight_groups.iter().any(|o| o == g.as_str()))
    }

    /// The people involved in a request may see it: requester, subject (and the
    /// subject's owner), the entitlement owners, members of a group named by one of
    /// its stages, and the fulfillers of its targets.
    pub fn can_view_request(&self, actor: &Identity, req: &Request, subject_owner: Option<&str>) -> bool {
        if self.has_oversight(actor) || &actor.id == req.requester() || &actor.id == req.subject() {
            return true;
        }
        if subject_owner == Some(actor.id.as_str()) {
            return true;
        }
        let involved_in_track = req.tracks().iter().any(|t| {
            t.owners.contains(&actor.id)
                || t.stages.iter().any(|s| match &s.spec.approvers {
                    writ_core::catalog::ApproverRule::Group(g) => actor.in_group(g),
                    _ => false,
                })
        });
        involved_in_track || req.entitlements().iter().any(|e| self.is_fulfiller_for(actor, e.target()))
    }

    pub fn can_view_task(&self, actor: &Identity, task: &FulfilmentTask) -> bool {
        self.has_oversight(actor) || actor.in_group(task.fulfiller_group())
    }

    fn is_fulfiller_for(&self, actor: &Identity, target: &writ_core::ids::TargetId) -> bool {
        match self.catalog.target(target).map(|t| &t.fulfilment) {
            Some(writ_core::catalog::Fulfilment::Manual { fulfiller_group }) => actor.in_group(fulfiller_group),
            None => false,
        }
    }
}
