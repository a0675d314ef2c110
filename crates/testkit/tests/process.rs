use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use writ_testkit::process::output_within;
use writ_testkit::{free_port, http_get, http_request};

#[test]
fn output_within_returns_stdout_or_gives_up_and_kills() {
    let (status, out) = output_within(Command::new("sh").args(["-c", "echo hi; echo err >&2"]), Duration::from_secs(5)).unwrap();
    assert!(status.success());
    assert_eq!(out, b"hi\n");

    let t = Instant::now();
    // A grandchild (sleep) keeps stdout open after the child is killed: the
    // answer must not wait for it.
    let answer = output_within(Command::new("sh").args(["-c", "sleep 3; echo late"]), Duration::from_millis(200));
    assert!(answer.is_none());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    assert!(output_within(&mut Command::new("/nonexistent/x"), Duration::from_secs(1)).is_none());
}

#[test]
fn http_request_sends_headers_and_body_and_parses_the_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        // Read until the 2-byte body after the blank line has arrived.
        while !String::from_utf8_lossy(&request).ends_with("\r\n\r\nhi") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "client closed early");
            request.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.0 201 Created\r\nX-Thing: a b\r\nContent-Type: text/plain\r\n\r\nbody\r\nmore").unwrap();
        String::from_utf8(request).unwrap()
    });
    let answer = http_request("POST", port, "/p?q=1", &[("Authorization", "Bearer t")], Some("hi")).unwrap();
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /p?q=1 HTTP/1.0\r\n"), "{request}");
    assert!(request.contains("\r\nAuthorization: Bearer t\r\n"), "{request}");
    assert!(request.contains("\r\nContent-Length: 2\r\n"), "{request}");
    assert_eq!(answer.status, 201);
    assert_eq!(answer.header("x-thing"), Some("a b"));
    assert_eq!(answer.header("missing"), None);
    assert_eq!(answer.body, "body\r\nmore");
}

#[test]
fn http_get_to_a_closed_port_is_refused() {
    let port = free_port();
    let err = http_get(port, "/", &[]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn holds_listening_socket_tells_the_process_that_listens() {
    use writ_testkit::process::holds_listening_socket;
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(holds_listening_socket(std::process::id(), port));
    // Another process does not hold it; nobody holds a closed port.
    let mut other = std::process::Command::new("sleep").arg("5").spawn().unwrap();
    assert!(!holds_listening_socket(other.id(), port));
    let _ = other.kill();
    let _ = other.wait();
    drop(listener);
    assert!(!holds_listening_socket(std::process::id(), port));
}
