//! LDAP connector benchmark against a real `slapd` (writ-testkit), beside the
//! plain OpenLDAP clients on the same server in the same run.
//!
//! ```sh
//! cargo run --release -p writ-connectors --example ldap_bench [-- GROUPS MEMBERS_PER_GROUP OPS RUNS]
//! ```
//!
//! Loads `GROUPS` × `MEMBERS_PER_GROUP` memberships (default 100 × 1,000 =
//! 100,000; 10,000 people, each in 10 groups) with `slapadd`, then, `RUNS`
//! times (default 3), measures:
//! - (a) a full `scan` against `ldapsearch -E pr=1000/noprompt` of every
//!   group's `member` (output to /dev/null), both paging 1,000 groups a page,
//!   and against the bare ldap3 paged search (the library's floor);
//! - (b) `OPS` (default 1,000) grants each followed by `read_account`, against
//!   `ldapmodify` (add the member) + `ldapsearch` (the groups holding that
//!   member) as processes, and against one `ldapmodify` applying all `OPS`
//!   adds (the server's floor, a mean only). Every grant is revoked untimed.
//!
//! Prints one table of medians over the runs.

#[path = "common/stats.rs"]
mod stats;
use stats::{median, ms, percentile};

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use writ_app::ports::{Account, Connector, Order};
use writ_connectors::ldap::{LdapConfig, LdapConnector};
use writ_core::identity::IdentityKind;
use writ_core::ids::{EntitlementId, IdentityId, RequestId, TargetId};
use writ_testkit::{ldap_binary, LdapServer};

const PEOPLE_PER_BLOCK: usize = 1_000;

fn arg(n: usize, default: usize) -> usize {
    std::env::args().nth(n).map(|a| a.parse().expect("a number")).unwrap_or(default)
}

fn person(i: usize) -> String {
    format!("p{i:06}")
}

fn group(g: usize) -> String {
    format!("g{g:04}")
}

fn order(account: &str, resource: &str) -> Order {
    Order {
        request: RequestId::parse("req-00000000000000000000000000000001").unwrap(),
        subject: IdentityId::parse("bench").unwrap(),
        account: Account { name: account.to_owned(), kind: IdentityKind::Person },
        entitlement: EntitlementId::parse(&format!("corp-ldap/{resource}")).unwrap(),
        resource: resource.to_owned(),
        expires_at: None,
    }
}

fn run(cmd: &mut Command, stdin: Option<&str>) {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The library's floor: the same paged search with ldap3 alone, counting values.
async fn raw_scan(ldap: &LdapServer) -> usize {
    use ldap3::adapters::PagedResults;
    use ldap3::{LdapConnAsync, Scope, SearchEntry};
    let (conn, mut l) = LdapConnAsync::new(&ldap.url()).await.unwrap();
    tokio::spawn(conn.drive());
    l.simple_bind(ldap.admin_dn(), ldap.admin_password()).await.unwrap().success().unwrap();
    let mut stream =
        l.streaming_search_with(PagedResults::new(1000), &ldap.groups_dn(), Scope::OneLevel, "(objectClass=groupOfNames)", vec!["member"]).await.unwrap();
    let mut n = 0;
    while let Some(e) = stream.next().await.unwrap() {
        n += SearchEntry::construct(e).attrs.get("member").map_or(0, Vec::len);
    }
    stream.finish().await.success().unwrap();
    n
}

#[tokio::main]
async fn main() {
    let (groups, per_group, ops, runs) = (arg(1, 100), arg(2, 1_000), arg(3, 1_000), arg(4, 3));
    let blocks = 10.min(groups);
    let people = blocks * per_group.max(PEOPLE_PER_BLOCK);
    let members_of = |g: usize| -> Vec<usize> { ((g % blocks) * (people / blocks)..).take(per_group).collect() };

    let t = Instant::now();
    let mut ldif = String::new();
    for i in 0..people {
        let p = person(i);
        ldif.push_str(&format!("dn: uid={p},ou=people,dc=writ,dc=test\nobjectClass: inetOrgPerson\nuid: {p}\ncn: {p}\nsn: {p}\n\n"));
    }
    for g in 0..groups {
        let name = group(g);
        ldif.push_str(&format!("dn: cn={name},ou=groups,dc=writ,dc=test\nobjectClass: groupOfNames\ncn: {name}\n"));
        for i in members_of(g) {
            ldif.push_str(&format!("member: uid={},ou=people,dc=writ,dc=test\n", person(i)));
        }
        ldif.push('\n');
    }
    let ldap = LdapServer::start_with_ldif(&ldif).unwrap();
    drop(ldif);
    let memberships = groups * per_group;
    println!(
        "loaded {memberships} memberships ({groups} groups x {per_group}, {people} people) with slapadd and started slapd in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, ldap.admin_password()).unwrap();
    let config: LdapConfig = serde_json::from_value(serde_json::json!({
        "url": ldap.url(), "bind_dn": ldap.admin_dn(), "password_file": pw,
        "people_dn": ldap.people_dn(), "groups_dn": ldap.groups_dn(), "services_dn": ldap.services_dn(),
        "page_size": 1000,
    }))
    .unwrap();
    let c = Arc::new(LdapConnector::new(&TargetId::parse("corp-ldap").unwrap(), &config).unwrap());
    let (ldapsearch, ldapmodify) = (ldap_binary("ldapsearch").unwrap(), ldap_binary("ldapmodify").unwrap());
    let search = |base: &str, scope: &str, filter: &str, attr: &str, paged: bool| {
        let mut cmd = Command::new(&ldapsearch);
        cmd.args(["-x", "-LLL", "-H", &ldap.url(), "-D", ldap.admin_dn(), "-w", ldap.admin_password(), "-b", base, "-s", scope]);
        if paged {
            cmd.args(["-E", "pr=1000/noprompt"]);
        }
        cmd.args([filter, attr]);
        cmd
    };
    let modify = || {
        let mut cmd = Command::new(&ldapmodify);
        cmd.args(["-x", "-H", &ldap.url(), "-D", ldap.admin_dn(), "-w", ldap.admin_password()]);
        cmd
    };
    let change = |p: &str, g: &str, op: &str| {
        format!("dn: cn={g},ou=groups,dc=writ,dc=test\nchangetype: modify\n{op}: member\nmember: uid={p},ou=people,dc=writ,dc=test\n\n")
    };
    // Pairs (person, group) not held: a person of block b joins group g with g % blocks != b.
    let pairs = |run: usize| -> Vec<(String, String)> {
        (0..ops)
            .map(|k| {
                let i = (run * ops + k) * 7919 % people;
                let b = i / (people / blocks);
                let g = (0..groups).map(|x| (x + k) % groups).find(|g| g % blocks != b).unwrap();
                (person(i), group(g))
            })
            .collect()
    };

    let mut rows: Vec<(String, Vec<f64>)> = [
        "scan: connector (s)",
        "scan: ldapsearch -E pr=1000 (s)",
        "scan: ratio connector / ldapsearch",
        "scan: bare ldap3 paged search, values counted (s)",
        "scan: ratio connector / bare ldap3",
        "grant+read-back: connector p50 (ms)",
        "grant+read-back: connector p99 (ms)",
        "grant+read-back: ldapmodify+ldapsearch processes p50 (ms)",
        "grant+read-back: ldapmodify+ldapsearch processes p99 (ms)",
        "grant: one ldapmodify for all ops, mean (ms)",
    ]
    .into_iter()
    .map(|n| (n.to_owned(), Vec::new()))
    .collect();

    for r in 0..runs {
        // (a) scan
        let t = Instant::now();
        let n = c.scan(&mut |_| {}).await.unwrap();
        let conn_scan = t.elapsed().as_secs_f64();
        assert_eq!(n as usize, memberships);
        let t = Instant::now();
        run(&mut search(&ldap.groups_dn(), "one", "(objectClass=groupOfNames)", "member", true), None);
        let plain_scan = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let raw = raw_scan(&ldap).await;
        let raw_scan = t.elapsed().as_secs_f64();
        assert_eq!(raw, memberships);

        // (b) grant + read-back
        let mut conn_lat = Vec::new();
        for (p, g) in pairs(r) {
            let o = order(&p, &g);
            let t = Instant::now();
            c.grant(&o).await.unwrap();
            let state = c.read_account(&o.account).await.unwrap();
            conn_lat.push(t.elapsed());
            assert!(state.holds(&g));
            c.revoke(&o).await.unwrap();
        }
        let mut plain_lat = Vec::new();
        for (p, g) in pairs(r) {
            let filter = format!("(member=uid={p},ou=people,dc=writ,dc=test)");
            let t = Instant::now();
            run(&mut modify(), Some(&change(&p, &g, "add")));
            run(&mut search(&ldap.groups_dn(), "one", &filter, "1.1", false), None);
            plain_lat.push(t.elapsed());
            run(&mut modify(), Some(&change(&p, &g, "delete")));
        }
        let all: String = pairs(r).iter().map(|(p, g)| change(p, g, "add")).collect();
        let t = Instant::now();
        run(&mut modify(), Some(&all));
        let batch = t.elapsed().as_secs_f64() * 1e3 / ops as f64;
        let undo: String = pairs(r).iter().map(|(p, g)| change(p, g, "delete")).collect();
        run(&mut modify(), Some(&undo));

        let values = [
            conn_scan,
            plain_scan,
            conn_scan / plain_scan,
            raw_scan,
            conn_scan / raw_scan,
            percentile(&conn_lat.iter().copied().map(ms).collect::<Vec<_>>(), 50.0),
            percentile(&conn_lat.iter().copied().map(ms).collect::<Vec<_>>(), 99.0),
            percentile(&plain_lat.iter().copied().map(ms).collect::<Vec<_>>(), 50.0),
            percentile(&plain_lat.iter().copied().map(ms).collect::<Vec<_>>(), 99.0),
            batch,
        ];
        for (row, v) in rows.iter_mut().zip(values) {
            row.1.push(v);
        }
        eprintln!("run {}: {:?}", r + 1, values.map(|v| (v * 1000.0).round() / 1000.0));
    }

    println!("\n{memberships} memberships, {ops} grant ops per run, {runs} runs (medians)\n");
    println!("| measure | median | runs |");
    println!("|---|---:|---|");
    for (name, v) in rows {
        let all: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
        println!("| {name} | {:.3} | {} |", median(&v), all.join(", "));
    }
}
