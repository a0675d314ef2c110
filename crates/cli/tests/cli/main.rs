//! Tests of the `writ` command-line client: argument parsing, the rendering of
//! human output and the API client's error mapping (unit tests of formatting, on
//! hand-built wire values), and the real binary against a real `writ serve`.

mod binary;
mod client;
mod evidence;
mod fixtures;
mod output;
mod paging;
mod parse;
mod server;

#[path = "../common/demo.rs"]
mod demo;
