use proptest::prelude::*;
use trailwatch::catalog::Catalog;
use trailwatch::engine::{Engine, Filter};
use trailwatch::record::split;
use trailwatch::scan::scan_bytes;

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(
            Catalog::builtin()
                .unwrap()
                .entries()
                .iter()
                .map(trailwatch::rules::from_entry),
        )
    })
}

/// JSON-ish bytes: mostly the characters that drive the decoder, so the cases reach deep paths.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        ",",
        ":",
        " ",
        "\n",
        "\"Records\"",
        "\"eventName\"",
        "\"eventSource\"",
        "\"StopLogging\"",
        "\"cloudtrail.amazonaws.com\"",
        "1",
        "null",
        "é",
        "\"detail-type\"",
        "\"detail\"",
        "\"CloudTrailEvent\"",
        "\"Events\"",
    ]);
    prop::collection::vec(token, 0..200).prop_map(|t| t.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = scan_bytes("fuzz", &bytes, engine(), &Filter::default());
    }

    #[test]
    fn jsonish_bytes_never_panic(bytes in jsonish()) {
        let r = scan_bytes("fuzz", &bytes, engine(), &Filter::default());
        // Whatever happened is accounted for.
        prop_assert!(r.records as usize + r.bad_records.len() <= bytes.len() + 1);
    }

    #[test]
    fn split_agrees_with_a_parser(items in prop::collection::vec(any::<(String, u8, bool)>(), 0..20)) {
        // Valid arrays of objects with arbitrary strings (quotes, backslashes, unicode).
        let values: Vec<serde_json::Value> = items
            .iter()
            .map(|(s, n, nest)| if *nest { serde_json::json!({"k": s, "n": [n, {"s": s}]}) } else { serde_json::json!({"k": s}) })
            .collect();
        let text = serde_json::to_string(&values).unwrap();
        let s = split::split_array(text.as_bytes(), 0);
        prop_assert_eq!(s.error, None);
        prop_assert_eq!(s.elements.len(), values.len());
        for (span, v) in s.elements.iter().zip(&values) {
            let parsed: serde_json::Value = serde_json::from_slice(&text.as_bytes()[span.start..span.end]).unwrap();
            prop_assert_eq!(&parsed, v);
        }
    }
}
