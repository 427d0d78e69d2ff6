//! Running `watch` as a service: one watcher per state database, configuration errors found
//! before starting, no AWS traffic unless AWS is configured, health and metrics endpoints,
//! JSON logs.

use crate::support::bin;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `trailwatch watch --dir DIR --state STATE ARGS`, output discarded, stderr piped.
fn spawn_dir_watch(dir: &Path, state: &Path, args: &[&str]) -> Child {
    Command::new(bin())
        .args(["watch", "--dir", dir.to_str().unwrap(), "--packs", "guide"])
        .args(["--state", state.to_str().unwrap()])
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn terminate(child: Child) -> (Option<i32>, String) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits up to 20 s for a child to exit on its own; `None` if it is still running.
fn exited_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_second_watcher_on_one_state_file_is_refused_naming_the_first() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let incoming = dir.path().join("in");
        std::fs::create_dir(&incoming).unwrap();
        let state = dir.path().join("state.db");
        // Both at the same moment, on a database neither has created yet.
        let mut a = spawn_dir_watch(&incoming, &state, &[]);
        let mut b = spawn_dir_watch(&incoming, &state, &[]);
        let started = Instant::now();
        let (refused, running, holder) = loop {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "round {round}: neither refused"
            );
            if let Some(s) = a.try_wait().unwrap() {
                break (s, b, a);
            }
            if let Some(s) = b.try_wait().unwrap() {
                break (s, a, b);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut running = running;
        assert!(
            exited_within(&mut running, Duration::from_millis(500)).is_none(),
            "round {round}: both exited"
        );
        assert_eq!(refused.code(), Some(2), "round {round}");
        let err = String::from_utf8_lossy(&holder.wait_with_output().unwrap().stderr).into_owned();
        assert!(
            err.contains("is in use by trailwatch watch, pid")
                && err.contains(&format!("pid {}", running.id())),
            "round {round}: {err}"
        );
        assert!(!err.contains("already exists"), "{err}");
        let (code, err) = terminate(running);
        assert_eq!(code, Some(0), "{err}");
        // Once the holder is gone, the file is free again.
        let mut c = spawn_dir_watch(&incoming, &state, &["--idle-exit", "1s"]);
        let s = exited_within(&mut c, Duration::from_secs(20)).expect("exits when idle");
        assert!(s.success());
    }
}

#[test]
fn a_missing_folder_or_a_malformed_queue_url_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let missing = dir.path().join("no-such-folder");
    let config = dir.path().join("trailwatch.toml");
    std::fs::write(&config, "[rules]\npacks = [\"guide\"]\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--dir", missing.to_str().unwrap()], "no such folder"),
        (&["--dir", config.to_str().unwrap()], "not a folder"),
        (&["--sqs", "garbage"], "malformed queue URL"),
        (
            &["--sqs", "https://user:secret@sqs.eu-west-1.amazonaws.com/q"],
            "/ACCOUNT-ID/QUEUE-NAME",
        ),
    ];
    for (args, says) in cases {
        for command in [
            &["watch"][..],
            &["config", "check", config.to_str().unwrap()],
        ] {
            let out = Command::new(bin())
                .args(command)
                .args(args)
                .args(["--state", state.to_str().unwrap(), "--idle-exit", "1s"])
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command:?} {args:?}: {err}");
            assert!(err.contains(says), "{command:?} {args:?}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }
    assert!(!state.exists(), "nothing started");
}

/// A listener standing in for the instance metadata service; counts connections.
fn fake_metadata() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// `trailwatch watch ARGS` with the instance metadata service enabled and pointed at `imds`, and
/// no AWS credentials, region or profile in reach.
fn watch_with_metadata(imds: &str, state: &Path, args: &[&str]) -> Child {
    let home = state.parent().unwrap();
    let mut cmd = Command::new(bin());
    cmd.arg("watch")
        .args(args)
        .args(["--packs", "guide", "--state", state.to_str().unwrap()])
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn connected(l: &std::net::TcpListener, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if l.accept().is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn watch_dir_without_aws_configured_never_asks_instance_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("in");
    std::fs::create_dir(&incoming).unwrap();
    let (imds, url) = fake_metadata();
    let mut child = watch_with_metadata(
        &url,
        &dir.path().join("state.db"),
        &["--dir", incoming.to_str().unwrap(), "--idle-exit", "2s"],
    );
    let status = exited_within(&mut child, Duration::from_secs(30)).expect("exits when idle");
    assert!(status.success());
    assert!(
        !connected(&imds, Duration::from_millis(100)),
        "watch --dir asked the metadata service"
    );
    // The control: with a queue (AWS configured), the same set-up does ask it, so the test above
    // would have seen a probe.
    let mut child = watch_with_metadata(
        &url,
        &dir.path().join("state2.db"),
        &["--sqs", "http://127.0.0.1:9/123456789012/q"],
    );
    let asked = connected(&imds, Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    assert!(asked, "the control run never asked the metadata service");
}

#[test]
fn log_format_json_writes_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("in");
    std::fs::create_dir(&incoming).unwrap();
    let out = Command::new(bin())
        .args([
            "watch",
            "--dir",
            incoming.to_str().unwrap(),
            "--packs",
            "guide",
        ])
        .args(["--state", dir.path().join("s.db").to_str().unwrap()])
        .args(["--idle-exit", "1s", "--log-format", "json"])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(lines.len() >= 2, "{err}");
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
    }
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("watching:"))),
        "{err}"
    );
}
