//! The example records written beside rules (`tests:`), run through the same engine and
//! prefilter a scan uses (`trailwatch rules test`).

use crate::engine::Engine;
use crate::record::{Parsed, Record};
use crate::rules::Rule;

/// What running the rules' tests found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TestResults {
    pub passed: usize,
    /// One line per failed test, naming the rule, where it is defined and the test.
    pub failures: Vec<String>,
}

/// Runs every rule's own tests, each rule alone in an engine.
pub fn run(rules: &[Rule]) -> TestResults {
    let mut results = TestResults::default();
    for rule in rules {
        let engine = Engine::new([rule.clone()]);
        for t in &rule.tests {
            let text = t.record.to_string();
            let record = match Record::parse_text(text.as_bytes()) {
                Ok(Parsed::Record(r)) => r,
                Ok(_) | Err(_) => {
                    results.failures.push(format!(
                        "{} ({}): test '{}': not a CloudTrail record",
                        rule.id, rule.origin, t.name
                    ));
                    continue;
                }
            };
            // Through the prefilter too, so a rule whose literals are wrong fails its tests.
            let passes_prefilter = engine.prefilter().might_match(text.as_bytes());
            let matched =
                passes_prefilter && !engine.evaluate(&record, String::new).findings.is_empty();
            if matched == t.expect_match {
                results.passed += 1;
            } else {
                let want = if t.expect_match { "match" } else { "no match" };
                results.failures.push(format!(
                    "{} ({}): test '{}': expected {want}",
                    rule.id, rule.origin, t.name
                ));
            }
        }
    }
    results
}
