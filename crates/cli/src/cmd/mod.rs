//! One module per command group. Each holds the group's clap arguments, the
//! calls to the API, and the renderers of its human output.

pub mod audit_export;
pub mod break_glass;
pub mod catalog;
pub mod evidence;
pub mod grant;
pub mod identity;
pub mod intake;
pub mod local;
pub mod login;
pub mod page;
pub mod reconcile;
pub mod request;
pub mod task;
pub mod token;
