//! The browser harness itself: what the login test does not show. Its errors
//! say what was looked for, where, and what the page said; screenshots have
//! the fixed size; pages cannot reach beyond 127.0.0.1; and a dropped browser
//! leaves no process behind.

use std::time::{Duration, Instant};

use serde_json::json;
use writ_testkit::browser::WINDOW;
use writ_testkit::process::process_group_alive;
use writ_testkit::Browser;

/// A page with a field, a button that writes a greeting, and no `#` (a
/// fragment in a data URL).
const PAGE: &str = "data:text/html,<!doctype html><title>Form</title><h1>Greeter</h1>\
    <input id='name'><button onclick=\"document.getElementById('out').textContent = 'hello ' + document.getElementById('name').value\">Say hello</button>\
    <p id='out'></p>";

fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn a_page_is_driven_and_failures_say_what_was_looked_for_and_where() {
    let browser = Browser::start().unwrap();
    browser.goto(PAGE).unwrap();
    browser.fill("input[id='name']", "alice").unwrap();
    browser.click_button("Say hello").unwrap();
    assert_eq!(browser.text("p[id='out']").unwrap(), "hello alice");
    assert_eq!(browser.execute("return arguments[0] + 1", vec![json!(41)]).unwrap(), json!(42));
    let shot = browser.screenshot("greeted").unwrap();
    assert_eq!(shot, browser.screenshot_dir().join("greeted.png"));
    assert_eq!(png_size(&std::fs::read(&shot).unwrap()), WINDOW);

    let t = Instant::now();
    let err = browser.wait_for("div.never", Duration::from_millis(300)).unwrap_err().to_string();
    assert!(t.elapsed() < Duration::from_secs(5), "a 300 ms wait took {:?}", t.elapsed());
    assert!(err.contains("waiting 300ms for `div.never`") && err.contains("not there in time"), "{err}");
    assert!(err.contains("at data:text/html,") && err.contains("page text: Greeter Say hello hello alice"), "{err}");
    let err = browser.click_button("Sign out").unwrap_err().to_string();
    assert!(err.contains("clicking the button \"Sign out\"") && err.contains("no such element"), "{err}");
}

#[test]
fn pages_cannot_reach_beyond_this_machine() {
    let browser = Browser::start().unwrap();
    // Every name but 127.0.0.1 and localhost fails to resolve at once: a test
    // neither waits on a closed network nor depends on an open one.
    let t = Instant::now();
    let outcome = browser.goto("http://example.com/");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    let said = match outcome {
        Err(e) => e.to_string(),
        Ok(()) => browser.page_text(),
    };
    assert!(said.contains("ERR_NAME_NOT_RESOLVED"), "{said}");
}

/// The running processes whose command line mentions `dir`: Chromium's
/// (`--user-data-dir`) and its crash handlers' (their database is under
/// `HOME`, which is `dir`). Zombies, which have exited, do not count.
fn processes_mentioning(dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("Z") {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).map(|c| String::from_utf8_lossy(&c).replace('\0', " ")).unwrap_or_default();
        if cmdline.contains(dir) {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn a_dropped_browser_leaves_no_process_and_no_dir() {
    let browser = Browser::start().unwrap();
    browser.goto(PAGE).unwrap();
    let pgid = browser.chromedriver_pid().unwrap();
    let dir = browser.dir().to_path_buf();
    let dir_text = dir.to_string_lossy().into_owned();
    let running = processes_mentioning(&dir_text);
    assert!(running.iter().any(|cmd| cmd.contains("--user-data-dir=")), "no Chromium found: {running:?}");
    assert!(process_group_alive(pgid));

    drop(browser);
    assert!(!process_group_alive(pgid), "chromedriver's group {pgid} is still running");
    let left = processes_mentioning(&dir_text);
    assert!(left.is_empty(), "left running: {left:?}");
    assert!(!dir.exists(), "{} is still there", dir.display());
}

/// axe-core, injected into the page, finds what a page does wrong (so that a
/// portal page it passes really passed a check).
#[test]
fn axe_core_finds_an_inaccessible_page_and_passes_an_accessible_one() {
    let browser = Browser::start().unwrap();
    browser.goto("data:text/html,<!doctype html><html><title>Bad</title><body><img src='x.png'><input id='q'><button></button></body></html>").unwrap();
    let problems = browser.accessibility_problems(&["serious", "critical"]).unwrap();
    for rule in ["image-alt", "label", "button-name"] {
        assert!(problems.iter().any(|p| p.contains(rule)), "{rule} not found in {problems:?}");
    }
    browser
        .goto("data:text/html,<!doctype html><html lang='en'><title>Good</title><body><main><h1>Search</h1><label for='q'>Query</label><input id='q'><button>Go</button></main></body></html>")
        .unwrap();
    assert_eq!(browser.accessibility_problems(&["serious", "critical"]).unwrap(), Vec::<String>::new());
}
