//! Tests of the `writ` command-line client that need no Writ server: argument
//! parsing, the rendering of human output, the API client's error mapping, and
//! the real binary against a tiny stub HTTP server.

mod binary;
mod client;
mod evidence;
mod fixtures;
mod output;
mod parse;
mod stub;
