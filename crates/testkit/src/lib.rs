//! Dev-only helpers for Writ's tests: throwaway real servers.
//!
//! Each server lives in its own temp dir on its own free port on 127.0.0.1, so
//! tests (and parallel test processes) never share state. It is stopped and its
//! dir deleted when the handle is dropped, also when the test panics.
//!
//! If the test process itself is killed (SIGKILL, nextest timeout), `Drop` cannot
//! run: a small watchdog shell process, which waits for the test process's end of
//! a pipe to close, then stops the server and deletes its dir (within ~10 s).
//!
//! Binaries come from Debian packages; `scripts/install-test-deps.sh` installs them.
//!
//! Adding a server: a new `src/NAME.rs` using the helpers in [`process`].

use std::fmt;
use std::io;

pub mod pg;
pub mod process;

pub use pg::{pg_binary, PgServer};
pub use process::{find_binary, free_port};

/// Errors from starting or driving a test server.
#[derive(Debug)]
#[non_exhaustive]
pub enum TestkitError {
    /// A needed binary is not installed.
    MissingBinary {
        binary: String,
        package: String,
    },
    /// A server did not come up; `log_tail` is the end of its log.
    Startup {
        what: String,
        log_tail: String,
    },
    /// A helper command (e.g. `createdb`) failed; `output` is its stderr/stdout.
    Command {
        what: String,
        output: String,
    },
    Io(io::Error),
}

impl fmt::Display for TestkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestkitError::MissingBinary { binary, package } => write!(
                f,
                "{binary} not found: install the Debian package `{package}` \
                 (run scripts/install-test-deps.sh)"
            ),
            TestkitError::Startup { what, log_tail } => {
                write!(f, "{what} did not start; end of its log:\n{log_tail}")
            }
            TestkitError::Command { what, output } => write!(f, "{what} failed:\n{output}"),
            TestkitError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for TestkitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestkitError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TestkitError {
    fn from(e: io::Error) -> Self {
        TestkitError::Io(e)
    }
}
