//! The rules of the use-cases of `writ-app`, one test per rule, each named
//! after the rule it holds: removing the rule from the use-case (or from the
//! domain transition it calls) makes that test fail.
//!
//! Everything is real but the clock: the SQLite store in a temp dir, the Cedar
//! demo policies, the manual connector, a catalog built in code (see
//! [`harness`]). Each test asserts on the typed error and on what the store
//! holds afterwards.

mod harness;

mod apply;
mod break_glass;
mod expiry;
mod front_door;
mod fulfil;
mod identities;
mod mover;
mod owner_left;
mod reconcile;
mod review;
mod stage_sla;
mod submit;
mod tokens;
mod visibility;
