//! The composition root: configuration, the HTTP JSON API, background workers and
//! `writ init`. Handlers are thin: they authenticate, parse wire types into domain
//! values, call one use-case of `writ-app` and render the result.

pub mod auth;
pub mod catalog_file;
pub mod clock;
pub mod config;
pub mod desk;
pub mod error;
pub mod init;
pub mod intake;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod portal;
pub mod routes;
pub mod scim;
pub mod serve;
pub mod signing;
pub mod views;
pub mod witness;
pub mod workers;

pub use config::Config;
pub use serve::{build, build_with_clock, build_with_connectors, run, start, App, Connectors, Serving};
