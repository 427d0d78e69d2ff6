//! What `/readyz` and `trailwatch_source_up` say about the sources: whether each answered its
//! last look, and what was wrong when it did not.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Whether each source answered its last look (`/readyz`, `trailwatch_source_up`): source name →
/// what is wrong, `None` when it answered.
#[derive(Debug, Default)]
pub(crate) struct Health {
    sources: Mutex<BTreeMap<String, Option<String>>>,
}

impl Health {
    /// A source that has not been looked at yet (not ready until it has).
    pub fn register(&self, name: &str) {
        if let Ok(mut s) = self.sources.lock() {
            s.insert(name.to_string(), Some("not looked at yet".into()));
        }
    }

    pub fn set(&self, name: &str, problem: Option<String>) {
        if let Ok(mut s) = self.sources.lock() {
            s.insert(name.to_string(), problem);
        }
    }

    /// Sources that did not answer their last look, with why.
    pub fn problems(&self) -> Vec<(String, String)> {
        self.sources
            .lock()
            .map(|s| {
                s.iter()
                    .filter_map(|(n, p)| Some((n.clone(), p.clone()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}
