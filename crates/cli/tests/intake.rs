//! `writ intake classify` and `writ intake train`: the real binary, offline, on
//! small CSV files. The standard model is trained by each `writ` process that
//! uses it (a few seconds in a debug build), so only two invocations here use it.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn writ(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_writ"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WRIT_")) {
        c.env_remove(k);
    }
    c.args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

const TICKETS: &str = "id,subject,body\r\n\
1,Forgot my password,\"I forgot my password, can you reset it please?\"\r\n\
2,Need DBA rights on prod-db-02,Please grant me DBA rights on prod-db-02 for the planned migration next week (CHG0042).\r\n\
3,,\"my laptop screen is cracked, I dropped it\"\r\n";

#[test]
fn classify_names_types_and_routes_and_json_parses() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "tickets.csv", TICKETS);

    let out = writ(&["intake", "classify", "--csv", &csv]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    for want in ["password_reset", "privileged_access", "hardware", "governed", "RUNNER-UP"] {
        assert!(human.contains(want), "`{want}` in\n{human}");
    }

    let out = writ(&["intake", "classify", "--csv", &csv, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["password_reset", "privileged_access", "hardware"]);
    assert_eq!(rows[1]["route"], "governed");
    assert_eq!(rows[2]["line"], 4);
    for r in &rows {
        let c = r["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c) && c >= r["runner_up_confidence"].as_f64().unwrap(), "{r}");
        assert!(["governed", "help_desk", "triage"].contains(&r["route"].as_str().unwrap()), "{r}");
    }
}

#[test]
fn a_csv_without_body_fails_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "no-body.csv", "subject,text\nVPN,please\n");
    let out = writ(&["intake", "classify", "--csv", &csv]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing printed: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("no-body.csv") && err.contains("line 1") && err.contains("`body`"), "{err}");

    let csv = write(dir.path(), "short-row.csv", "subject,body\nfine,row\nshort\n");
    let out = writ(&["intake", "classify", "--csv", &csv]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("short-row.csv") && err.contains("line 3"), "{err}");
}

#[test]
fn an_unknown_or_damaged_model_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "tickets.csv", TICKETS);
    let missing = dir.path().join("missing.model").display().to_string();
    let out = writ(&["intake", "classify", "--csv", &csv, "--model", &missing]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("missing.model") && err.contains("cannot read the model file"), "{err}");

    let damaged = write(dir.path(), "damaged.model", "not a model");
    let out = writ(&["intake", "classify", "--csv", &csv, "--model", &damaged]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("damaged.model") && err.contains("writ intake train"), "{err}");
}

#[test]
fn a_custom_model_round_trips_through_train_and_classify() {
    let dir = tempfile::tempdir().unwrap();
    let mut labelled = String::from("subject,body,type\n");
    for i in 0..8 {
        labelled.push_str(&format!("Printer {i},the printer on floor {i} is jammed again,printer\n"));
        labelled.push_str(&format!("Coffee {i},the coffee machine in kitchen {i} is empty,coffee\n"));
    }
    let train = write(dir.path(), "train.csv", &labelled);
    let held_out = write(dir.path(), "held.csv", "subject,body,type\nPrinter,printer jammed,printer\nKitchen,coffee machine empty,coffee\n");
    let model = dir.path().join("office.model").display().to_string();

    let out = writ(&["intake", "train", "--csv", &train, "--out", &model, "--held-out", &held_out]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("16 tickets") && said.contains("held-out type accuracy: 100.00% (2/2)"), "{said}");

    let tickets = write(dir.path(), "t.csv", "subject,body\nhelp,the printer is jammed\nplease,coffee machine is empty\n");
    let out = writ(&["intake", "classify", "--csv", &tickets, "--model", &model, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["printer", "coffee"]);
    // Labels that are not standard help-desk types never go to the help desk on their own.
    assert!(rows.iter().all(|r| r["route"] != "help_desk"), "{rows:?}");

    let bad = write(dir.path(), "unlabelled.csv", "subject,body\na,b\n");
    let out = writ(&["intake", "train", "--csv", &bad, "--out", &model]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("unlabelled.csv") && err.contains("line 1"), "{err}");
}
