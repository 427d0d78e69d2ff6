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
