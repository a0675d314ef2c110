//! The API client without a server: error mapping, tokens, URLs.

use std::io::Write;

use reqwest::StatusCode;
use writ_cli::client::{api_error, parse_server, resolve_token, unreachable_error, Client, NO_TOKEN};

#[test]
fn an_api_error_reads_as_the_servers_message() {
    let e = api_error(StatusCode::FORBIDDEN, r#"{"error":"forbidden","message":"alice may not approve her own request: ask another owner"}"#);
    assert_eq!((e.status, e.code.as_str()), (403, "forbidden"));
    assert_eq!(e.to_string(), "alice may not approve her own request: ask another owner");
    let any: anyhow::Error = e.into();
    assert_eq!(format!("{any:#}"), "alice may not approve her own request: ask another owner");
}

#[test]
fn an_error_without_a_body_still_says_what_happened() {
    let e = api_error(StatusCode::BAD_GATEWAY, "<html>\n\u{1b}bad gateway</html>");
    assert_eq!(e.message, "the server answered 502 Bad Gateway: <html>bad gateway</html>");
    let e = api_error(StatusCode::INTERNAL_SERVER_ERROR, "");
    assert_eq!(e.message, "the server answered 500 Internal Server Error without an error message");
}

#[test]
fn the_token_comes_from_the_flag_first_then_the_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "  writ_fromfile  ").unwrap();
    assert_eq!(resolve_token(Some("writ_flag"), Some(file.path())).unwrap(), "writ_flag");
    assert_eq!(resolve_token(None, Some(file.path())).unwrap(), "writ_fromfile");
    assert_eq!(resolve_token(Some("  "), Some(file.path())).unwrap(), "writ_fromfile");
}

#[test]
fn a_missing_token_says_how_to_set_one() {
    let e = resolve_token(None, None).unwrap_err();
    assert_eq!(e.to_string(), NO_TOKEN);
    for how in ["--token", "WRIT_TOKEN", "--token-file", "WRIT_TOKEN_FILE"] {
        assert!(NO_TOKEN.contains(how), "{how}");
    }
}

#[test]
fn a_bad_token_file_is_named_but_its_content_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    assert!(resolve_token(None, Some(&empty)).unwrap_err().to_string().contains("is empty"));
    let two = dir.path().join("two");
    std::fs::write(&two, "writ_secret1 writ_secret2\n").unwrap();
    let msg = format!("{:#}", resolve_token(None, Some(&two)).unwrap_err());
    assert!(msg.contains("more than one word") && !msg.contains("secret"), "{msg}");
    let msg = format!("{:#}", resolve_token(None, Some(&dir.path().join("absent"))).unwrap_err());
    assert!(msg.starts_with("cannot read the token file"), "{msg}");
}

#[test]
fn the_server_must_be_an_http_url() {
    assert!(parse_server("http://127.0.0.1:7878").is_ok());
    assert!(parse_server("https://writ.example.com/").is_ok());
    for bad in ["127.0.0.1:7878", "ftp://h", "writ", "mailto:a@b"] {
        let msg = parse_server(bad).unwrap_err().to_string();
        assert!(msg.contains("--server http://127.0.0.1:7878"), "{bad}: {msg}");
    }
}

#[test]
fn ids_are_one_path_segment_each() {
    let client = Client::new(parse_server("http://h:1").unwrap(), "t".into()).unwrap();
    assert_eq!(client.url(&["v1", "requests", "r-1", "approve"]).unwrap().as_str(), "http://h:1/v1/requests/r-1/approve");
    assert_eq!(client.url(&["v1", "requests", "a/../b?x#y"]).unwrap().as_str(), "http://h:1/v1/requests/a%2F..%2Fb%3Fx%23y");
    let prefixed = Client::new(parse_server("http://h:1/writ/").unwrap(), "t".into()).unwrap();
    assert_eq!(prefixed.url(&["v1", "whoami"]).unwrap().as_str(), "http://h:1/writ/v1/whoami");
    assert_eq!(prefixed.server(), "http://h:1/writ");
    for bad in ["..", ".", ""] {
        let msg = client.url(&["v1", "requests", bad]).unwrap_err().to_string();
        assert_eq!(msg, format!("`{bad}` is not an id: copy the id from a `list` command"));
    }
}

#[test]
fn the_client_never_shows_its_token() {
    let client = Client::new(parse_server("http://h:1").unwrap(), "writ_topsecret".into()).unwrap();
    assert!(!format!("{client:?}").contains("topsecret"));
}

#[test]
fn an_unreachable_server_says_what_to_check() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
    let msg = unreachable_error("http://127.0.0.1:7878", &io).to_string();
    assert_eq!(
        msg,
        "cannot reach the Writ server at http://127.0.0.1:7878: Connection refused (os error 111) \
         (is `writ serve` running? set --server or WRIT_SERVER)"
    );
}

#[test]
fn the_next_page_is_the_link_whose_rel_is_next() {
    use writ_cli::client::next_link;
    assert_eq!(next_link(r#"</v1/requests?limit=2&cursor=5.req-a>; rel="next""#), Some("/v1/requests?limit=2&cursor=5.req-a"));
    assert_eq!(next_link(r#"</a>; rel="prev", </b>; rel="next""#), Some("/b"));
    assert_eq!(next_link(r#"</a>; title="x"; rel="prev next""#), Some("/a"));
    assert_eq!(next_link("</a>; rel=next"), Some("/a"));
    assert_eq!(next_link(r#"</a>; rel="prev""#), None);
    assert_eq!(next_link("garbage"), None);
}
