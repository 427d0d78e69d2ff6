use super::*;

fn finding(key: &str) -> NewFinding {
    NewFinding {
        key: key.into(),
        rule_id: "r".into(),
        event_time: Some("2026-11-20T10:00:00Z".into()),
        body: format!("{{\"k\":\"{key}\"}}"),
        sinks: Vec::new(),
        window: None,
    }
}

fn routed(key: &str, sinks: &[&str]) -> NewFinding {
    NewFinding {
        sinks: sinks.iter().map(|s| s.to_string()).collect(),
        ..finding(key)
    }
}

fn input(source: &str) -> InputDone {
    InputDone {
        source: source.into(),
        version: "v1".into(),
        records: 3,
        error: None,
    }
}

#[test]
fn findings_are_recorded_once_and_queued_per_sink() {
    let mut s = Store::open_in_memory().unwrap();
    let sinks = ["stdout", "slack"];
    assert!(!s.is_done("s3://b/k1", "v1").unwrap());
    let n = s
        .commit_input(
            &input("s3://b/k1"),
            &[routed("a", &sinks), routed("b", &sinks)],
            &[],
            &[],
            Some(b"n1"),
        )
        .unwrap();
    assert_eq!(n, [0, 1]);
    assert!(s.is_done("s3://b/k1", "v1").unwrap());
    assert!(!s.is_done("s3://b/k1", "v2").unwrap());
    // The same record in another object: recorded once.
    let n = s
        .commit_input(
            &input("s3://b/k2"),
            &[routed("b", &sinks), routed("c", &sinks)],
            &[],
            &[],
            None,
        )
        .unwrap();
    assert_eq!(n, [1]);
    assert_eq!(s.noise().unwrap().as_deref(), Some(&b"n1"[..]));
    let pending = s.pending("stdout", 10).unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[0].body, "{\"k\":\"a\"}");
    s.delivered(
        "stdout",
        &[pending[0].finding_id, pending[1].finding_id],
        Some(42),
    )
    .unwrap();
    assert_eq!(s.pending("stdout", 10).unwrap().len(), 1);
    assert_eq!(s.pending("slack", 10).unwrap().len(), 3);
    assert_eq!(s.cursor("stdout").unwrap(), Some(42));
    assert_eq!(s.cursor("slack").unwrap(), None);
}

#[test]
fn failures_retry_later_then_dead_letter() {
    let mut s = Store::open_in_memory().unwrap();
    s.commit_input(&input("x"), &[routed("a", &["hook"])], &[], &[], None)
        .unwrap();
    let id = s.pending("hook", 10).unwrap()[0].finding_id;
    s.failed("hook", id, "500", now_secs() + 3600, false)
        .unwrap();
    assert!(s.pending("hook", 10).unwrap().is_empty(), "not due yet");
    s.failed("hook", id, "500 again", 0, true).unwrap();
    let dead = s.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].error, "500 again");
    assert_eq!(s.retry_dead_letters().unwrap(), 1);
    assert_eq!(s.pending("hook", 10).unwrap().len(), 1);
    assert!(s.dead_letters().unwrap().is_empty());
}

#[test]
fn prune_keeps_undelivered_findings() {
    let mut s = Store::open_in_memory().unwrap();
    s.commit_input(&input("x"), &[routed("a", &["hook"])], &[], &[], None)
        .unwrap();
    s.commit_input(&input("y"), &[finding("b")], &[], &[], None)
        .unwrap();
    let p = s.prune(now_secs() + 10).unwrap();
    assert_eq!(
        p,
        Pruned {
            inputs: 2,
            findings: 1
        }
    );
    assert_eq!(s.pending("hook", 10).unwrap().len(), 1);
    let info = s.info().unwrap();
    assert_eq!((info.inputs, info.findings), (0, 1));
}

#[test]
fn reopening_keeps_state_and_refuses_newer_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/state.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.commit_input(&input("x"), &[finding("a")], &[], &[], None)
            .unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert!(s.is_done("x", "v1").unwrap());
    assert_eq!(s.info().unwrap().schema_version, VERSION);
    drop(s);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StateError::TooNew { .. }), "{err}");
    assert!(err.to_string().contains("state.db"));
}

#[test]
fn repeats_thread_under_the_posted_finding() {
    let mut s = Store::open_in_memory().unwrap();
    let first = NewFinding {
        window: Some(7),
        ..routed("a", &["app"])
    };
    s.commit_input(&input("x"), &[first], &[], &["app".into()], None)
        .unwrap();
    let id = s.pending("app", 10).unwrap()[0].finding_id;
    // Two repeats arrive before the original is posted: they wait for the thread.
    let folds = [
        (7, Some("2026-11-20T10:05:00Z".to_string())),
        (7, Some("2026-11-20T10:09:00Z".to_string())),
    ];
    s.commit_input(&input("y"), &[], &folds, &["app".into()], None)
        .unwrap();
    assert!(s.pending_repeats("app").unwrap().is_empty());
    s.delivered("app", &[id], None).unwrap();
    s.set_thread(id, "app", "C1", "171.1").unwrap();
    let r = s.pending_repeats("app").unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].repeats, r[0].ts.as_str()), (2, "171.1"));
    assert_eq!(r[0].last_time.as_deref(), Some("2026-11-20T10:09:00Z"));
    s.repeat_delivered(id, "app").unwrap();
    assert!(s.pending_repeats("app").unwrap().is_empty());
    // A sink the finding was never routed to gets no repeats.
    s.commit_input(&input("z"), &[], &[(7, None)], &["other".into()], None)
        .unwrap();
    assert!(s.pending_repeats("other").unwrap().is_empty());
}

#[test]
fn backlog_counts_pending_and_dead_letters_per_sink() {
    let mut s = Store::open_in_memory().unwrap();
    assert!(s.backlog().unwrap().is_empty());
    s.commit_input(
        &input("x"),
        &[routed("a", &["hook", "out"]), routed("b", &["out"])],
        &[],
        &[],
        None,
    )
    .unwrap();
    let id = s.pending("hook", 10).unwrap()[0].finding_id;
    s.failed("hook", id, "gone", 0, true).unwrap();
    let b = s.backlog().unwrap();
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(
        (b[0].sink.as_str(), b[0].pending, b[0].dead_letters),
        ("hook", 0, 1)
    );
    assert_eq!(b[0].oldest, None);
    assert_eq!(
        (b[1].sink.as_str(), b[1].pending, b[1].dead_letters),
        ("out", 2, 0)
    );
    assert!(b[1].oldest.is_some());
}

#[test]
fn check_notices_a_database_moved_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let s = Store::open(&path).unwrap();
    s.check().unwrap();
    std::fs::rename(&path, dir.path().join("elsewhere.db")).unwrap();
    let e = s.check().unwrap_err().to_string();
    assert!(e.contains("no longer at its path"), "{e}");
    std::fs::rename(dir.path().join("elsewhere.db"), &path).unwrap();
    s.check().unwrap();
}

#[test]
fn tracking_rows_are_replaced_and_committed_with_findings_alone() {
    let mut store = Store::open_in_memory().unwrap();
    let row = |body: &str| Tracked {
        kind: "chain".into(),
        id: "t/1/r".into(),
        body: body.into(),
    };
    let finding = NewFinding {
        key: "integrity.digest-late\u{1f}x".into(),
        rule_id: "integrity.digest-late".into(),
        body: "{}".into(),
        sinks: vec!["stdout".into()],
        ..NewFinding::default()
    };
    let commit = |findings, tracked| Commit {
        input: None,
        findings,
        folds: &[],
        threading: &[],
        noise: None,
        tracked,
    };
    let (one, two) = ([row("1")], [row("2")]);
    let fresh = store
        .commit(&commit(std::slice::from_ref(&finding), &one))
        .unwrap();
    assert_eq!(fresh, vec![0]);
    let fresh = store
        .commit(&commit(std::slice::from_ref(&finding), &two))
        .unwrap();
    assert!(fresh.is_empty(), "the same key is recorded once");
    assert_eq!(store.tracking().unwrap(), vec![row("2")]);
    assert_eq!(store.info().unwrap().inputs, 0, "no input recorded");
    assert_eq!(store.pending("stdout", 10).unwrap().len(), 1);
}
