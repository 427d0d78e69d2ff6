use crate::support::shared;
use std::collections::BTreeSet;
use trailwatch::catalog::Catalog;

/// Guide section headings (by a distinctive part) and the catalog's service slugs.
const SECTIONS: &[(&str, &str)] = &[
    ("Auto Scaling", "autoscaling"),
    ("CloudFormation", "cloudformation"),
    ("Certificate Manager", "acm"),
    ("Disable CloudTrail", "cloudtrail"),
    ("AWS Config", "config"),
    ("Direct Connect", "directconnect"),
    ("EC2 VPC", "vpc"),
    ("EC2 Security Groups", "security-groups"),
    ("EC2 CloudTrail", "ec2"),
    ("EFS", "efs"),
    ("Elastic Beanstalk", "elasticbeanstalk"),
    ("ElastiCache", "elasticache"),
    ("ELB", "elb"),
    ("IAM", "iam"),
    ("Redshift", "redshift"),
    ("RDS", "rds"),
    ("Route 53", "route53"),
    ("S3", "s3"),
    ("WAF", "waf"),
];

/// Every `(service, eventName)` row of the guide's tables.
fn guide_rows(text: &str) -> Vec<(String, String)> {
    let mut section: Option<&str> = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = SECTIONS
                .iter()
                .find(|(k, _)| heading.contains(k))
                .map(|(_, s)| *s);
            assert!(section.is_some(), "unknown guide section: {heading}");
            continue;
        }
        let (Some(service), Some(row)) = (section, line.strip_prefix('|')) else {
            continue;
        };
        let name = row.split('|').next().unwrap_or_default().trim();
        if name.is_empty() || name.starts_with("---") || name == "CloudTrail Event Name" {
            continue;
        }
        rows.push((service.to_string(), name.to_string()));
    }
    rows
}

#[test]
fn catalog_has_every_guide_row_on_the_right_service() {
    let Some(shared) = shared() else { return };
    let text = std::fs::read_to_string(shared.join("spec/cloudtrail-events-guide.md")).unwrap();
    let rows = guide_rows(&text);
    assert_eq!(rows.len(), 319, "the guide's table rows");
    let catalog = Catalog::builtin().unwrap();
    let have: BTreeSet<(String, String)> = catalog
        .entries()
        .iter()
        .map(|e| (e.service.clone(), e.event_name.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = rows.iter().cloned().collect();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(
        missing.is_empty(),
        "guide rows missing from the catalog: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "catalog entries not in the guide (or on the wrong service): {extra:?}"
    );
    assert_eq!(catalog.entries().len(), rows.len(), "one entry per row");
    // Guide order within each service.
    for (slug, _) in SECTIONS {
        let guide: Vec<&str> = rows
            .iter()
            .filter(|(s, _)| s == slug)
            .map(|(_, n)| n.as_str())
            .collect();
        let ours: Vec<&str> = catalog
            .by_service(slug)
            .map(|e| e.event_name.as_str())
            .collect();
        assert_eq!(ours, guide, "order of {slug}");
    }
}

#[test]
fn entries_are_written_in_our_own_words() {
    let Some(shared) = shared() else { return };
    let text = std::fs::read_to_string(shared.join("spec/cloudtrail-events-guide.md")).unwrap();
    let guide_sentences: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(2).map(|d| d.trim().to_lowercase()))
        .filter(|d| d.len() > 40)
        .collect();
    for e in Catalog::builtin().unwrap().entries() {
        for ours in [&e.summary, &e.why] {
            let ours = ours.to_lowercase();
            for theirs in &guide_sentences {
                // No 40-character run of the guide's description appears in ours.
                let chars: Vec<char> = theirs.chars().collect();
                for w in chars.windows(40).step_by(10) {
                    let run: String = w.iter().collect();
                    assert!(
                        !ours.contains(&run),
                        "{} repeats the guide: '{run}'",
                        e.event_name
                    );
                }
            }
        }
    }
}
