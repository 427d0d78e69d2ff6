//! `type = "file"`: appends findings as JSON Lines to a file, exactly once: the file is written
//! by [`JsonlFile`], the same writer as `watch --output`, and its length after each write is
//! recorded with the delivery, so a restart cuts off what was written but never recorded and
//! writes it again from the outbox.

use super::{Env, Kind, Sent, Sink};
use crate::alert::{Delivery, SendError, render};
use crate::output::JsonlFile;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `[sinks.NAME]` with `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Relative paths are relative to the configuration file's folder.
    pub path: PathBuf,
}

impl Kind for Config {
    fn redacted(&self) -> serde_json::Value {
        serde_json::json!({"type": "file", "path": self.path})
    }

    fn relative_to(&mut self, base: &Path) {
        if self.path.is_relative() {
            self.path = base.join(&self.path);
        }
    }

    fn build(&self, _env: &Env<'_>) -> Result<Box<dyn Sink>, String> {
        Ok(Box::new(FileSink {
            path: self.path.clone(),
            state: Mutex::new(State::default()),
        }))
    }
}

struct FileSink {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The length recorded with the last delivery, applied when the file is (re)opened.
    recorded: Option<u64>,
    file: Option<JsonlFile>,
}

impl FileSink {
    fn append(&self, text: &str) -> Result<Sent, SendError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| SendError::retry("file sink lock poisoned"))?;
        let state = &mut *state;
        let file = match &mut state.file {
            Some(f) => f,
            None => state.file.insert(
                JsonlFile::open(&self.path, state.recorded)
                    .map_err(|e| SendError::retry(e.to_string()))?,
            ),
        };
        match file.append(text.as_bytes()) {
            Ok(len) => Ok(Sent::Cursor(len)),
            Err(e) => Err(SendError::retry(e.to_string())),
        }
    }
}

fn line(d: &Delivery, count: u64) -> Result<String, SendError> {
    serde_json::to_string(&render::webhook::with_count(&d.finding, count))
        .map(|l| l + "\n")
        .map_err(|e| SendError::Permanent(e.to_string()))
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn send(&self, d: &Delivery) -> Result<Sent, SendError> {
        self.append(&line(d, d.count)?)
    }

    async fn send_summary(&self, items: &[Delivery], _why: &str) -> Result<Sent, SendError> {
        let text = items
            .iter()
            .map(|d| line(d, 1))
            .collect::<Result<String, _>>()?;
        self.append(&text)
    }

    fn resume(&self, cursor: Option<u64>) -> Option<u64> {
        let mut state = self.state.lock().ok()?;
        *state = State {
            recorded: cursor,
            file: None,
        };
        if cursor.is_some() {
            return None;
        }
        // Nothing recorded yet: what the file holds now is not ours to take back, but
        // everything after it is.
        let file = JsonlFile::open(&self.path, None)
            .map_err(|e| tracing::warn!("{e}"))
            .ok()?;
        let len = file.len();
        *state = State {
            recorded: Some(len),
            file: Some(file),
        };
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Outbox;
    use crate::alert::config::{Alerts, SinkEntry};
    use crate::alert::sink::SinkConfig;
    use crate::state::{InputDone, NewFinding, Store};
    use std::sync::Arc;

    fn commit(store: &Mutex<Store>, ids: &[&str]) {
        let findings: Vec<NewFinding> = ids
            .iter()
            .map(|id| {
                let mut f = crate::alert::render::sample_finding();
                f.event_id = Some(id.to_string());
                NewFinding {
                    key: f.identity(),
                    rule_id: f.rule_id.clone(),
                    event_time: f.event_time.clone(),
                    body: serde_json::to_string(&f).unwrap(),
                    sinks: vec!["archive".into()],
                    window: None,
                }
            })
            .collect();
        let input = InputDone {
            source: format!("input-{}", ids.join("-")),
            version: "v1".into(),
            records: ids.len() as u64,
            error: None,
        };
        store
            .lock()
            .unwrap()
            .commit_input(&input, &findings, &[], &[], None)
            .unwrap();
    }

    fn event_ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let f: serde_json::Value = serde_json::from_str(l).expect("whole lines only");
                f["event_id"].as_str().unwrap_or("").to_string()
            })
            .collect()
    }

    /// Runs the delivery loop of the `archive` sink until the outbox is empty.
    async fn deliver_all(store: &Arc<Mutex<Store>>, config: &Config) {
        let outbox = Arc::new(Outbox::new(store.clone(), &Alerts::default()));
        outbox.finish();
        let entry = SinkEntry {
            name: "archive".into(),
            config: SinkConfig::File(config.clone()),
            rate: None,
        };
        let aws = aws_config::SdkConfig::builder().build();
        let sink = config.build(&Env { aws: &aws }).unwrap();
        crate::alert::deliver::run(outbox, entry, sink).await;
    }

    #[tokio::test]
    async fn exactly_once_across_a_restart_with_unrecorded_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        // A line from before trailwatch wrote here is kept.
        std::fs::write(&path, "{\"event_id\":\"earlier\"}\n").unwrap();
        let store = Arc::new(Mutex::new(
            Store::open(&dir.path().join("state.db")).unwrap(),
        ));
        let config = Config { path: path.clone() };

        commit(&store, &["a"]);
        deliver_all(&store, &config).await;
        assert_eq!(event_ids(&path), ["earlier", "a"]);

        // Two more findings are written, then the process dies before recording the deliveries
        // (and tears the last line in half).
        commit(&store, &["b", "c"]);
        let aws = aws_config::SdkConfig::builder().build();
        let crashed = config.build(&Env { aws: &aws }).unwrap();
        let recorded = store.lock().unwrap().cursor("archive").unwrap();
        crashed.resume(recorded.map(|c| c as u64));
        let pending = store.lock().unwrap().pending("archive", 10).unwrap();
        for p in pending {
            let d = Delivery {
                finding: serde_json::from_str(&p.body).unwrap(),
                idempotency_key: crate::alert::idempotency_key(&p.key),
                count: 1,
            };
            assert!(matches!(crashed.send(&d).await, Ok(Sent::Cursor(_))));
        }
        drop(crashed);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, b"{\"event_id\":\"b\",\"tit").unwrap();
        drop(f);

        // The restart cuts the unrecorded writes off and delivers them again from the outbox.
        deliver_all(&store, &config).await;
        assert_eq!(event_ids(&path), ["earlier", "a", "b", "c"]);
        assert!(store.lock().unwrap().pending("archive", 10).unwrap().is_empty());
        // Nothing left to do: a further restart writes nothing.
        deliver_all(&store, &config).await;
        assert_eq!(event_ids(&path).len(), 4);
    }
}
