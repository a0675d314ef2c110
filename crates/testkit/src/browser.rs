//! A real headless Chromium for browser tests, driven over WebDriver.
//!
//! [`Browser::start`] runs Debian's `chromedriver` (package `chromium-driver`)
//! on a free port of 127.0.0.1 in its own temp dir, and opens one session of
//! headless `chromium` in it: a fresh profile in that dir, a fixed viewport
//! of [`WINDOW`], and no way off the machine (every host name but 127.0.0.1 and
//! `localhost` fails to resolve, so a page that loads a web font from the
//! internet fails at once instead of waiting on a closed network).
//!
//! The API is blocking, over a private current-thread tokio runtime, although
//! the WebDriver client (`fantoccini`) is async: the tests it serves are plain
//! `#[test]`s that start servers and run the `writ` binary with blocking calls,
//! like the rest of this crate, and a browser step is one request to
//! chromedriver after another, with nothing to do concurrently.
//!
//! Screenshots are PNGs under `TARGET/screenshots/TEST/NAME.png`, where TARGET
//! is the Cargo target directory (`$CARGO_TARGET_DIR`, else the one holding the
//! test binary) and TEST the name of the test (its thread's name); a test's
//! folder is emptied when it starts a browser, so what is there is its last run.
//!
//! Errors name what was looked for and the URL the browser was at, followed by
//! the start of the page's text, so that a failing test says what it saw.
//!
//! Dropping a [`Browser`] ends the session (Chromium quits), then stops
//! chromedriver's whole process group, which catches a Chromium that did not
//! quit; the watchdog of [`crate::process`] does the same if the test process
//! dies.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::process::{self, Launch, Supervised};
use crate::TestkitError;

/// The size of the page's viewport in CSS pixels (width, height), and so of
/// every screenshot: fixed, so that screenshots of one page are comparable
/// from run to run.
pub const WINDOW: (u32, u32) = (1280, 900);
/// How long [`Browser::wait_for`] and its kin wait unless told otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// A page that takes longer than this to load fails its navigation.
const PAGE_LOAD: Duration = Duration::from_secs(30);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a page's text an error quotes.
const PAGE_TEXT_CHARS: usize = 600;

/// Errors of the browser harness.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// chromedriver is missing or did not start.
    #[error(transparent)]
    Start(#[from] TestkitError),
    /// chromedriver runs but could not start Chromium.
    #[error("chromedriver could not open a Chromium session: {source}\nend of chromedriver's log:\n{log_tail}")]
    Session {
        #[source]
        // Boxed: it is large, and every step's error would carry its size.
        source: Box<fantoccini::error::NewSessionError>,
        log_tail: String,
    },
    /// A step on a page failed: `action` says what was done or looked for.
    #[error("{action} failed at {url}: {cause}\npage text: {page_text}")]
    Page { action: String, url: String, cause: String, page_text: String },
    /// A screenshot could not be written.
    #[error("cannot write the screenshot {path}: {source}")]
    Screenshot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The private async runtime could not be built.
    #[error("cannot start the browser's async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// `chromedriver` from `PATH`, or an error naming Debian's `chromium-driver`.
pub fn chromedriver_binary() -> Result<PathBuf, TestkitError> {
    process::find_binary("chromedriver", "chromium-driver", &[])
}

/// `chromium` from `PATH`, or an error naming Debian's `chromium`.
pub fn chromium_binary() -> Result<PathBuf, TestkitError> {
    process::find_binary("chromium", "chromium", &[])
}

/// A headless Chromium with one WebDriver session. See the module docs.
pub struct Browser {
    // `Drop` ends the session through `runtime`, then stops `driver`.
    client: Option<Client>,
    runtime: tokio::runtime::Runtime,
    driver: Supervised,
    screenshots: PathBuf,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser").field("chromedriver_port", &self.driver.port()).field("screenshots", &self.screenshots).finish()
    }
}

fn ready(l: &Launch) -> bool {
    // The port in the line tells our chromedriver from another one that may
    // hold the port we tried.
    l.log_since_start().contains(&format!("ChromeDriver was started successfully on port {}.", l.port))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (about a second).
    /// Screenshots go to the folder of the calling test, see the module docs.
    pub fn start() -> Result<Browser, BrowserError> {
        let driver_bin = chromedriver_binary()?;
        let chromium = chromium_binary()?;
        let dir = process::server_dir("writ-browser-", None).map_err(TestkitError::from)?;
        let home = dir.path().to_path_buf();
        // chromedriver leaves Chromium running when it alone is signalled:
        // stops go to its whole process group.
        let mut driver = Supervised::new(dir, "chromedriver", "TERM", STARTUP_TIMEOUT).with_process_group();
        driver.start_on_free_port(
            |port| {
                let mut cmd = Command::new(&driver_bin);
                // Chromium's crash handler keeps its database under $HOME:
                // ours is the temp dir, deleted with it.
                cmd.arg(format!("--port={port}")).env("HOME", &home);
                cmd
            },
            ready,
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(BrowserError::Runtime)?;
        let profile = driver.path().join("profile");
        let capabilities = session_capabilities(&chromium, &profile);
        let url = format!("http://127.0.0.1:{}", driver.port());
        let connected = runtime.block_on(async {
            let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities);
            builder.connect(&url).await
        });
        let client = connected.map_err(|source| BrowserError::Session { source: Box::new(source), log_tail: process::log_tail(driver.log(), 30) })?;
        let screenshots = screenshot_dir();
        // Last run's pictures of this test would pass for this run's; a test
        // with several browsers (one per person) keeps all of this run's.
        static CLEARED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
        let mut cleared = CLEARED.lock().unwrap_or_else(|p| p.into_inner());
        if !cleared.contains(&screenshots) {
            let _ = fs::remove_dir_all(&screenshots);
            cleared.push(screenshots.clone());
        }
        drop(cleared);
        let browser = Browser { client: Some(client), runtime, driver, screenshots };
        browser.fit_viewport()?;
        Ok(browser)
    }

    /// Makes the page's viewport (what a screenshot shows, and what CSS media
    /// queries see) exactly [`WINDOW`]: `--window-size` sets the window, and
    /// headless Chromium still keeps room for a toolbar out of it.
    fn fit_viewport(&self) -> Result<(), BrowserError> {
        let frame = self.execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]", vec![])?;
        let extra = |i: usize| frame[i].as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        let resized = self.runtime.block_on(self.client().set_window_size(WINDOW.0 + extra(0), WINDOW.1 + extra(1)));
        self.check(resized, || format!("resizing the window to a {}x{} viewport", WINDOW.0, WINDOW.1))
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open until drop")
    }

    /// chromedriver's pid, which is also its process group's id: Chromium's
    /// processes are in that group.
    pub fn chromedriver_pid(&self) -> Option<u32> {
        self.driver.pid()
    }

    /// The port chromedriver listens on, on 127.0.0.1.
    pub fn chromedriver_port(&self) -> u16 {
        self.driver.port()
    }

    /// The temp dir of chromedriver's log, Chromium's profile (`profile/`)
    /// and `HOME`; deleted on drop.
    pub fn dir(&self) -> &Path {
        self.driver.path()
    }

    /// Where [`Browser::screenshot`] writes this test's PNGs.
    pub fn screenshot_dir(&self) -> &Path {
        &self.screenshots
    }

    /// Opens `url` and waits for the page to load.
    pub fn goto(&self, url: &str) -> Result<(), BrowserError> {
        let done = self.runtime.block_on(self.client().goto(url));
        self.check(done, || format!("opening {url}"))
    }

    /// The URL of the page shown.
    pub fn current_url(&self) -> Result<String, BrowserError> {
        self.runtime.block_on(self.client().current_url()).map(String::from).map_err(|e| BrowserError::Page {
            action: "reading the current URL".into(),
            url: "(unknown)".into(),
            cause: e.to_string(),
            page_text: String::new(),
        })
    }

    /// Clears the field `css` and types `text` into it.
    pub fn fill(&self, css: &str, text: &str) -> Result<(), BrowserError> {
        let done = self.runtime.block_on(async {
            let field = self.client().find(Locator::Css(css)).await?;
            field.clear().await?;
            field.send_keys(text).await
        });
        self.check(done, || format!("typing into `{css}`"))
    }

    /// Clicks the element `css`.
    pub fn click(&self, css: &str) -> Result<(), BrowserError> {
        let done = self.runtime.block_on(async { self.client().find(Locator::Css(css)).await?.click().await });
        self.check(done, || format!("clicking `{css}`"))
    }

    /// Clicks the button (`<button>`, or an `<input>` of type submit or
    /// button) whose visible text is `label` (spaces trimmed and collapsed):
    /// what a person would look for, so tests read like the page.
    pub fn click_button(&self, label: &str) -> Result<(), BrowserError> {
        let text = xpath_literal(label);
        let xpath = format!("//button[normalize-space(.)={text}] | //input[(@type='submit' or @type='button') and normalize-space(@value)={text}]");
        let done = self.runtime.block_on(async { self.client().find(Locator::XPath(&xpath)).await?.click().await });
        self.check(done, || format!("clicking the button \"{label}\""))
    }

    /// The visible text of the element `css`.
    pub fn text(&self, css: &str) -> Result<String, BrowserError> {
        let text = self.runtime.block_on(async { self.client().find(Locator::Css(css)).await?.text().await });
        self.check(text, || format!("reading the text of `{css}`"))
    }

    /// Waits up to `timeout` for an element `css` to be on the page.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<(), BrowserError> {
        let found = self.runtime.block_on(self.client().wait().at_most(timeout).every(Duration::from_millis(50)).for_element(Locator::Css(css)));
        self.check(found.map(drop), || format!("waiting {timeout:?} for `{css}`"))
    }

    /// Waits up to `timeout` until the current URL satisfies `arrived`, and
    /// returns it; `what` names the wait in the error (e.g. "leaving the
    /// provider"). Navigations a click starts end after the click returns.
    pub fn wait_for_url(&self, what: &str, timeout: Duration, arrived: impl Fn(&str) -> bool) -> Result<String, BrowserError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            // A page being replaced may briefly refuse commands: retried.
            if let Ok(url) = self.runtime.block_on(self.client().current_url()) {
                if arrived(url.as_str()) {
                    return Ok(url.into());
                }
            }
            if std::time::Instant::now() >= deadline {
                return self.check(Err(CmdError::WaitTimeout), || format!("waiting {timeout:?} for the URL: {what}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `script` as the body of a function in the page, with `args` as
    /// `arguments`, and returns what it returns (as JSON). A script may
    /// return a Promise: WebDriver waits for it (up to 30 s).
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, BrowserError> {
        let answer = self.runtime.block_on(self.client().execute(script, args));
        self.check(answer, || format!("running the script `{}`", trimmed(script, 80)))
    }

    /// The accessibility problems axe-core (crates/testkit/axe, installed by
    /// `scripts/install-test-deps.sh`) finds on the current page whose impact
    /// is one of `impacts` (`minor`, `moderate`, `serious`, `critical`): each
    /// as `impact rule: help (where)`. axe runs in the page itself, injected
    /// through WebDriver, which the page's Content-Security-Policy does not
    /// govern: the page under test needs no exception for it.
    pub fn accessibility_problems(&self, impacts: &[&str]) -> Result<Vec<String>, BrowserError> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("axe/node_modules/axe-core/axe.min.js");
        let axe = fs::read_to_string(&path)
            .map_err(|e| BrowserError::Runtime(std::io::Error::new(e.kind(), format!("{}: {e} (run scripts/install-test-deps.sh)", path.display()))))?;
        let script = format!(
            "{axe}\nreturn window.axe.run(document, {{ resultTypes: ['violations'] }}).then(r => r.violations.map(v => \
             ({{ id: v.id, impact: v.impact || '', help: v.help, at: v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ') }})));"
        );
        let found = self.execute(&script, vec![])?;
        Ok(found
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|v| impacts.contains(&v["impact"].as_str().unwrap_or("")))
                    .map(|v| {
                        format!(
                            "{} {}: {} ({})",
                            v["impact"].as_str().unwrap_or(""),
                            v["id"].as_str().unwrap_or(""),
                            v["help"].as_str().unwrap_or(""),
                            v["at"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Saves a PNG of the window as `NAME.png` in [`Browser::screenshot_dir`]
    /// and returns its path.
    pub fn screenshot(&self, name: &str) -> Result<PathBuf, BrowserError> {
        let png = self.runtime.block_on(self.client().screenshot());
        let png = self.check(png, || format!("taking the screenshot {name}"))?;
        let path = self.screenshots.join(format!("{name}.png"));
        fs::create_dir_all(&self.screenshots).and_then(|()| fs::write(&path, png)).map_err(|source| BrowserError::Screenshot { path: path.clone(), source })?;
        Ok(path)
    }

    /// The page's visible text, whitespace collapsed (empty if it cannot be read).
    pub fn page_text(&self) -> String {
        let text = self.runtime.block_on(self.client().execute("return document.body ? document.body.innerText : ''", vec![]));
        text.ok().and_then(|v| v.as_str().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))).unwrap_or_default()
    }

    /// chromedriver's output (Chromium's failures to start show there).
    pub fn log_tail(&self) -> String {
        process::log_tail(self.driver.log(), 30)
    }

    /// `result`, or a [`BrowserError::Page`] saying what was done where, and
    /// what the page said.
    fn check<T>(&self, result: Result<T, CmdError>, action: impl FnOnce() -> String) -> Result<T, BrowserError> {
        result.map_err(|e| {
            let cause = match e {
                CmdError::WaitTimeout => "not there in time".to_string(),
                e if e.is_no_such_element() => "no such element".to_string(),
                e => e.to_string(),
            };
            let url = self.runtime.block_on(self.client().current_url()).map(String::from).unwrap_or_else(|e| format!("(URL unknown: {e})"));
            BrowserError::Page { action: action(), url, cause, page_text: trimmed(&self.page_text(), PAGE_TEXT_CHARS) }
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver quit Chromium cleanly (its
        // crash handlers with it); the driver's group stop then finds little
        // to do. Bounded: a wedged chromedriver must not hang the test.
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), client.close()).await });
        }
        self.driver.close();
    }
}

/// The W3C capabilities of the session: headless Chromium as root on a
/// machine without network or GPU.
fn session_capabilities(chromium: &Path, profile: &Path) -> serde_json::Map<String, Value> {
    let args = [
        "--headless".to_string(),
        // The sandbox guards against hostile pages, and tests load only their
        // own; Chromium refuses to start as root with it.
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        // /dev/shm is small in many containers; Chromium crashes when it is full.
        "--disable-dev-shm-usage".into(),
        // No traffic of Chromium's own: on a closed network its connections
        // are refused, and a test must not depend on the internet anyway.
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost".into(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={},{}", WINDOW.0, WINDOW.1),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
        "timeouts": { "pageLoad": PAGE_LOAD.as_millis() as u64, "script": 30_000, "implicit": 0 },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// `TARGET/screenshots/TEST`, see the module docs.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).or_else(|| {
        // Test binaries live in TARGET/PROFILE/deps (or TARGET/TRIPLE/PROFILE/deps);
        // Cargo marks TARGET itself with a CACHEDIR.TAG.
        std::env::current_exe().ok()?.ancestors().find(|dir| dir.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf)
    });
    let target = target.unwrap_or_else(|| std::env::temp_dir().join("writ-target"));
    let test = std::thread::current().name().filter(|n| *n != "main").unwrap_or("unnamed").replace("::", "-");
    target.join("screenshots").join(test)
}

/// `s` with at most `max` characters, marked when cut.
fn trimmed(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `s` as an XPath 1.0 string literal (which has no escapes: a string with
/// both kinds of quotes is built with `concat`).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_literals_quote_any_text() {
        assert_eq!(xpath_literal("Sign-in"), "'Sign-in'");
        assert_eq!(xpath_literal("it's"), "\"it's\"");
        assert_eq!(xpath_literal("a'b\"c"), "concat('a', \"'\", 'b\"c')");
    }

    #[test]
    fn long_text_is_cut_on_a_character() {
        assert_eq!(trimmed("héllo", 2), "hé…");
        assert_eq!(trimmed("hi", 2), "hi");
    }
}
