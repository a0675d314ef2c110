use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use writ_testkit::process::{process_group_alive, tcp_accepts};
use writ_testkit::{free_port, http_get, RequestTracker};

/// A tiny HTTP server that records the JSON body of every POST and answers
/// 200: the far end of RT's webhook scrip.
struct HookReceiver {
    port: u16,
    events: Arc<Mutex<Vec<(String, Value)>>>,
}

impl HookReceiver {
    fn start() -> HookReceiver {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let events = Arc::new(Mutex::new(Vec::new()));
        let recorded = events.clone();
        // Ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
                let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
                recorded.lock().unwrap().push((path, body));
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        HookReceiver { port, events }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/rt-hook", self.port)
    }

    fn events(&self) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(path, body)| {
                assert_eq!(path, "/rt-hook");
                body.clone()
            })
            .collect()
    }
}

fn timed_start(what: &str, start: impl FnOnce() -> RequestTracker) -> RequestTracker {
    let t = Instant::now();
    let rt = start();
    eprintln!("{what}: RT started in {:?} on port {}", t.elapsed(), rt.port());
    rt
}

#[test]
fn tickets_comments_status_and_webhook_events_through_rest() {
    let hooks = HookReceiver::start();
    let rt = timed_start("with webhook", || RequestTracker::start_with_webhook(&hooks.url()).unwrap());
    let port = rt.port();
    assert_eq!(rt.base_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(rt.rest_url(), format!("http://127.0.0.1:{port}/REST/2.0"));
    assert!(rt.token().starts_with("token "), "{}", rt.token());
    assert_eq!(rt.webhook_url(), Some(hooks.url().as_str()));

    // A ticket with the Writ request custom field, read back.
    let t = Instant::now();
    let id = rt
        .create_ticket_with(&json!({
            "Queue": "Writ Access",
            "Subject": "Access request: alice -> prod-db",
            "Content": "Justification: on-call this week",
            "ContentType": "text/plain",
            "Requestor": "alice@writ.test",
            "CustomFields": {"Writ request": "WR-0001"},
        }))
        .unwrap();
    eprintln!("ticket {id} created in {:?}", t.elapsed());
    let ticket = rt.ticket(id).unwrap();
    assert_eq!(ticket["Subject"], "Access request: alice -> prod-db");
    assert_eq!(ticket["Status"], "new");
    assert_eq!(ticket["Requestor"][0]["id"], "alice@writ.test");
    assert_eq!(rt.custom_field(id, "Writ request").unwrap().as_deref(), Some("WR-0001"));

    // The webhook saw the creation, synchronously (before the REST answer).
    let events = hooks.events();
    assert_eq!(events.len(), 1, "{events:#?}\n{}", rt.log_tail());
    let created = &events[0];
    assert_eq!(created["ticket"]["id"], json!(id));
    assert_eq!(created["ticket"]["queue"], "Writ Access");
    assert_eq!(created["ticket"]["subject"], "Access request: alice -> prod-db");
    assert_eq!(created["ticket"]["status"], "new");
    assert_eq!(created["ticket"]["requestors"], json!(["alice@writ.test"]));
    assert_eq!(created["ticket"]["writ_request"], "WR-0001");
    assert_eq!(created["transaction"]["type"], "Create");
    assert_eq!(created["transaction"]["content"], "Justification: on-call this week");
    assert_eq!(created["transaction"]["creator"], "root");

    // Comment, reply, resolve: all in the history, with their texts.
    rt.comment(id, "checked with the DB owner").unwrap();
    rt.correspond(id, "Hi Alice, granted until Friday.").unwrap();
    rt.update_ticket(id, &json!({"Status": "resolved"})).unwrap();
    assert_eq!(rt.ticket(id).unwrap()["Status"], "resolved");
    let history = rt.history(id).unwrap();
    let of_type = |t: &str| history.iter().filter(|h| h["Type"] == t).collect::<Vec<_>>();
    assert_eq!(of_type("Create")[0]["Content"], "Justification: on-call this week", "{history:#?}");
    assert_eq!(of_type("Comment")[0]["Content"], "checked with the DB owner", "{history:#?}");
    assert_eq!(of_type("Correspond")[0]["Content"], "Hi Alice, granted until Friday.", "{history:#?}");
    let last_status = *of_type("Status").last().unwrap();
    assert_eq!(last_status["Field"], "Status");
    assert_eq!(last_status["NewValue"], "resolved");

    // ... and in the webhook events, in order.
    let events = hooks.events();
    let types: Vec<&str> = events.iter().filter_map(|e| e["transaction"]["type"].as_str()).collect();
    let position = |t: &str| types.iter().position(|x| *x == t).unwrap_or_else(|| panic!("no {t} event in {types:?}"));
    assert!(position("Create") < position("Comment") && position("Comment") < position("Correspond"), "{types:?}");
    let resolved = events.iter().find(|e| e["transaction"]["type"] == "Status" && e["transaction"]["new_value"] == "resolved").expect("a status event");
    assert_eq!(resolved["transaction"]["field"], "Status");
    assert_eq!(resolved["ticket"]["status"], "resolved");
    assert_eq!(resolved["ticket"]["writ_request"], "WR-0001");
    assert!(resolved["transaction"]["old_value"].is_string());
    assert!(resolved["transaction"]["id"].as_u64().unwrap() > created["transaction"]["id"].as_u64().unwrap());
    let comment = events.iter().find(|e| e["transaction"]["type"] == "Comment").unwrap();
    assert_eq!(comment["transaction"]["content"], "checked with the DB owner");

    // The reply was mailed (to the mbox spool) to the requestor.
    assert!(rt.outgoing_mail().contains("alice@writ.test"), "{}", rt.outgoing_mail());

    // The plain helper and a user.
    let second = rt.create_ticket("Access request: bob -> wiki", "please", "bob@writ.test").unwrap();
    assert!(second > id);
    assert_eq!(rt.ticket(second).unwrap()["Requestor"][0]["id"], "bob@writ.test");
    rt.create_user("carol", "carol@writ.test").unwrap();
    assert_eq!(rt.call("GET", "/user/carol", None).unwrap()["EmailAddress"], "carol@writ.test");

    // Authentication: a wrong token or none is refused.
    let rest = |auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        http_get(port, "/REST/2.0/rt", &headers).unwrap().status
    };
    assert_eq!(rest(Some(&rt.token())), 200);
    assert_eq!(rest(Some("token 1-14-0123456789abcdef0123456789abcdef")), 401);
    assert_eq!(rest(None), 401);
    assert_eq!(rt.request("GET", "/ticket/999999", None).unwrap().status, 404);
}

#[test]
fn parallel_instances_are_independent_keep_data_across_a_restart_and_leave_nothing() {
    // B's webhook goes to a port where nothing listens: changes still stand.
    let dead_hook = format!("http://127.0.0.1:{}/rt-hook", free_port());
    let (mut a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| timed_start("parallel A", || RequestTracker::start().unwrap()));
        let b = s.spawn(|| timed_start("parallel B (dead webhook)", || RequestTracker::start_with_webhook(&dead_hook).unwrap()));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());

    let in_a = a.create_ticket("only in A", "a", "alice@writ.test").unwrap();
    let in_b = b.create_ticket("only in B", "b", "bob@writ.test").unwrap();
    // The same id in both (same golden start), different tickets.
    assert_eq!(a.ticket(in_a).unwrap()["Subject"], "only in A");
    assert_eq!(b.ticket(in_b).unwrap()["Subject"], "only in B");
    let query = |rt: &RequestTracker, subject: &str| {
        let path = format!("/tickets?query=Subject%3D%27{}%27", subject.replace(' ', "%20"));
        rt.call("GET", &path, None).unwrap()["count"].as_u64().unwrap()
    };
    assert_eq!(query(&a, "only in A"), 1);
    assert_eq!(query(&a, "only in B"), 0);
    assert_eq!(query(&b, "only in A"), 0);
    assert!(b.log_tail().contains("Writ webhook"), "{}", b.log_tail());

    // A stops (nothing answers) and comes back on the same port with its ticket.
    let port_a = a.port();
    let t = Instant::now();
    a.stop();
    eprintln!("A stopped in {:?}", t.elapsed());
    assert!(!a.is_running());
    assert!(!tcp_accepts(port_a));
    let t = Instant::now();
    a.start_again().unwrap();
    eprintln!("A started again in {:?}", t.elapsed());
    assert_eq!(a.port(), port_a);
    assert_eq!(a.ticket(in_a).unwrap()["Subject"], "only in A");

    // Dropped: nothing listens, no process of the group is left, the dir is gone.
    for rt in [a, b] {
        let (port, dir, pid) = (rt.port(), rt.dir().to_path_buf(), rt.pid().unwrap());
        assert!(dir.join("var/rt.sqlite").is_file());
        let t = Instant::now();
        drop(rt);
        eprintln!("RT on port {port} dropped in {:?}", t.elapsed());
        assert!(!tcp_accepts(port), "port {port} still accepts");
        assert!(!process_group_alive(pid), "a process of group {pid} is still running");
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}
