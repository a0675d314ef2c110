use std::process::{Command, Output};
use std::time::Instant;

use writ_testkit::process::tcp_accepts;
use writ_testkit::{redis_binary, RedisServer};

/// Plain `redis-cli -p PORT [--user U] [-a PW] ARGS...`.
fn redis_cli(port: u16, user: Option<&str>, password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(redis_binary("redis-cli").unwrap());
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "--no-auth-warning"]);
    if let Some(user) = user {
        cmd.args(["--user", user]);
    }
    if let Some(pw) = password {
        cmd.args(["-a", pw]);
    }
    cmd.env_remove("REDISCLI_AUTH").args(args).output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn redis_with_an_admin_user_manages_acl_users_and_comes_back_empty_after_a_stop() {
    let t = Instant::now();
    let mut redis = RedisServer::start_with_user("writ-admin", "s3cret").unwrap();
    eprintln!("redis started in {:?} on port {}", t.elapsed(), redis.port());
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://writ-admin:s3cret@127.0.0.1:{port}/"));
    assert_eq!(redis.username(), Some("writ-admin"));
    assert_eq!(redis.password(), Some("s3cret"));
    let admin = |args: &[&str]| redis_cli(port, Some("writ-admin"), Some("s3cret"), args);

    assert_eq!(out(&admin(&["PING"])), "PONG");
    // Without credentials, or with wrong ones, nothing is allowed.
    assert!(out(&redis_cli(port, None, None, &["PING"])).starts_with("NOAUTH"));
    let wrong = redis_cli(port, Some("writ-admin"), Some("nope"), &["PING"]);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("WRONGPASS"));
    assert!(out(&wrong).starts_with("NOAUTH"));

    // What a connector does: create a user with narrow rights, read it back.
    assert_eq!(out(&admin(&["ACL", "SETUSER", "alice", "on", ">alice-pw", "~app:*", "+get"])), "OK");
    let users = out(&admin(&["ACL", "LIST"]));
    assert!(users.contains("user alice on"), "{users}");
    assert!(users.contains("~app:* resetchannels -@all +get"), "{users}");
    assert_eq!(out(&admin(&["SET", "app:1", "v"])), "OK");
    let alice = |args: &[&str]| redis_cli(port, Some("alice"), Some("alice-pw"), args);
    assert_eq!(out(&alice(&["GET", "app:1"])), "v");
    assert!(out(&alice(&["SET", "app:1", "w"])).starts_with("NOPERM"));
    // The helper authenticates as configured and turns error answers into errors.
    assert_eq!(redis.cli(&["GET", "app:1"]).unwrap().trim(), "v");
    let err = redis.cli(&["NOSUCHCOMMAND"]).unwrap_err().to_string();
    assert!(err.contains("unknown command"), "{err}");

    // Down: the client cannot connect.
    let t = Instant::now();
    redis.stop();
    eprintln!("redis stopped in {:?}", t.elapsed());
    assert!(!redis.is_running());
    let down = admin(&["PING"]);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("Connection refused"));
    assert!(redis.cli(&["PING"]).is_err());

    // Back on the same port with the configured admin, but empty: runtime ACL
    // users and keys are gone (no persistence).
    let t = Instant::now();
    redis.start_again().unwrap();
    eprintln!("redis started again in {:?}", t.elapsed());
    assert_eq!(redis.port(), port);
    assert_eq!(out(&admin(&["PING"])), "PONG");
    let users = out(&admin(&["ACL", "LIST"]));
    assert!(!users.contains("alice"), "{users}");
    assert!(users.contains("user writ-admin on"), "{users}");
    assert!(users.contains("user default off"), "{users}");
    assert_eq!(out(&admin(&["DBSIZE"])), "0");

    let dir = redis.dir().to_path_buf();
    assert!(dir.join("redis.conf").is_file());
    drop(redis);
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(!tcp_accepts(port));
}

#[test]
fn redis_with_requirepass() {
    let mut redis = RedisServer::start_with_password("pw-1.x").unwrap();
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://:pw-1.x@127.0.0.1:{port}/"));
    assert_eq!(redis.username(), None);
    assert_eq!(out(&redis_cli(port, None, Some("pw-1.x"), &["PING"])), "PONG");
    assert!(out(&redis_cli(port, None, None, &["PING"])).starts_with("NOAUTH"));
    assert_eq!(redis.cli(&["PING"]).unwrap().trim(), "PONG");

    // A server that dies by itself is seen as not running, and can come back.
    let _ = redis.cli(&["SHUTDOWN", "NOSAVE"]); // the connection just closes
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while redis.is_running() {
        assert!(Instant::now() < deadline, "redis did not shut down");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(redis.pid().is_none());
    assert!(redis.cli(&["PING"]).is_err());
    redis.start_again().unwrap();
    assert_eq!(redis.port(), port);
    assert_eq!(redis.cli(&["PING"]).unwrap().trim(), "PONG");
}

#[test]
fn parallel_redis_servers_are_independent() {
    let servers: Vec<RedisServer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| RedisServer::start_with_password("same-pw").unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(|s| s.port()).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    for (i, s) in servers.iter().enumerate() {
        assert_eq!(s.cli(&["SET", "who", &i.to_string()]).unwrap().trim(), "OK");
    }
    for (i, s) in servers.iter().enumerate() {
        assert_eq!(s.cli(&["GET", "who"]).unwrap().trim(), i.to_string());
    }
}

#[test]
fn redis_without_auth() {
    let redis = RedisServer::start().unwrap();
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}/"));
    assert_eq!(redis.password(), None);
    assert_eq!(out(&redis_cli(port, None, None, &["PING"])), "PONG");
    // Bound to 127.0.0.1 only, nothing written to disk.
    let config = out(&redis_cli(port, None, None, &["CONFIG", "GET", "bind"]));
    assert_eq!(config.lines().nth(1), Some("127.0.0.1"));
    let save = redis_cli(port, None, None, &["CONFIG", "GET", "save"]);
    assert_eq!(String::from_utf8_lossy(&save.stdout), "save\n\n");
}

#[test]
fn redis_refuses_credentials_it_cannot_write_into_its_config() {
    assert!(RedisServer::start_with_password("has space").is_err());
    assert!(RedisServer::start_with_user("bad user", "pw").is_err());
    assert!(RedisServer::start_with_user("u", "").is_err());
    assert!(RedisServer::start_with_user("default", "pw").is_err());
}

#[test]
fn redis_start_again_waits_for_its_port_and_gives_up_after_5_s() {
    use std::net::TcpListener;
    use std::time::Duration;
    let mut redis = RedisServer::start().unwrap();
    let port = redis.port();
    redis.stop();

    // Someone else holds the port the whole time: an error naming the cause.
    let squatter = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let t = Instant::now();
    let err = redis.start_again().unwrap_err().to_string();
    assert!(t.elapsed() >= Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(err.contains("Address already in use"), "{err}");
    assert!(!redis.is_running());

    // Released after a while: the restart gets it.
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            drop(squatter);
        });
        redis.start_again().unwrap();
    });
    eprintln!("restart got its port back after {:?}", t.elapsed());
    assert!(t.elapsed() >= Duration::from_millis(700));
    assert_eq!(redis.port(), port);
    assert_eq!(redis.cli(&["PING"]).unwrap().trim(), "PONG");
}
