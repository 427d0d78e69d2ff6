//! The built-in rules that judge the new setting read it: each case is a request shaped as AWS
//! documents it (API reference and CloudTrail user guide examples), run through every built-in
//! pack, with the severity the event's finding must have and the severity (and lowering) of the
//! rule the case is about. Widening or protective settings and routine automation are lowered;
//! the narrowing counterpart of each is not.

use super::*;
use crate::catalog::Catalog;
use crate::record::Parsed;
use crate::rules::packs;

fn engine() -> Engine {
    let catalog = Catalog::builtin().unwrap();
    let (rules, errors) = packs::load(&catalog, packs::NAMES);
    assert!(errors.is_empty(), "{errors:?}");
    Engine::new(rules)
}

/// (name, record, event severity, rule id, rule severity, lowered?)
type Case = (
    &'static str,
    &'static str,
    Severity,
    &'static str,
    Severity,
    bool,
);

fn check(cases: &[Case]) {
    let engine = engine();
    let mut failures = Vec::new();
    for (name, json, event_sev, rule_id, rule_sev, lowered) in cases {
        let record = match Record::parse_item(json.as_bytes(), 2) {
            Ok(Parsed::Record(r)) => r,
            other => panic!("{name}: {other:?}"),
        };
        let out = engine.evaluate(&record, || "t#1".into());
        let Some(f) = out.findings.iter().find(|f| !f.aggregate) else {
            failures.push(format!("{name}: no finding"));
            continue;
        };
        let hit = f.rules.iter().find(|r| r.id == *rule_id);
        let got = (
            f.severity,
            hit.map(|h| h.severity),
            hit.map(|h| h.lowered.is_some()),
        );
        if got != (*event_sev, Some(*rule_sev), Some(*lowered)) {
            failures.push(format!(
                "{name}: event {:?}, {rule_id} {:?} lowered {:?}; expected {event_sev:?}, {rule_sev:?}, {lowered} ({:?})",
                got.0, got.1, got.2, f.rules
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const TRAIL: &str = "baseline.cloudtrail-modified";

#[test]
fn cloudtrail_selector_and_trail_changes_are_judged_on_the_new_setting() {
    use Severity::*;
    check(&[
        (
            "basic selectors back to the default (all management events)",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","eventSelectors":[{"readWriteType":"All","includeManagementEvents":true,"dataResources":[],"excludeManagementEventSources":[]}]}}"#,
            Info,
            TRAIL,
            Info,
            true,
        ),
        (
            "basic selectors adding S3 data events",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","eventSelectors":[{"readWriteType":"All","includeManagementEvents":true,"dataResources":[{"type":"AWS::S3::Object","values":["arn:aws:s3:::amzn-s3-demo-bucket/prefix"]}]}]}}"#,
            Info,
            TRAIL,
            Info,
            true,
        ),
        (
            "management events off, read-only (Stratus cloudtrail-event-selectors)",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","eventSelectors":[{"readWriteType":"ReadOnly","includeManagementEvents":false,"dataResources":[{"type":"AWS::S3::Object","values":[]}],"excludeManagementEventSources":[]}]}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "write-only management events",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","eventSelectors":[{"readWriteType":"WriteOnly","includeManagementEvents":true}]}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "KMS events excluded (basic)",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","eventSelectors":[{"readWriteType":"All","includeManagementEvents":true,"excludeManagementEventSources":["kms.amazonaws.com"]}]}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "advanced: management events and one bucket's data events",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","advancedEventSelectors":[{"name":"Log management events","fieldSelectors":[{"field":"eventCategory","equals":["Management"]}]},{"name":"Log one bucket","fieldSelectors":[{"field":"eventCategory","equals":["Data"]},{"field":"resources.type","equals":["AWS::S3::Object"]},{"field":"resources.ARN","startsWith":["arn:aws:s3:::amzn-s3-demo-bucket/"]}]}]}}"#,
            Info,
            TRAIL,
            Info,
            true,
        ),
        (
            "advanced: KMS events excluded",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","advancedEventSelectors":[{"name":"No KMS","fieldSelectors":[{"field":"eventCategory","equals":["Management"]},{"field":"eventSource","notEquals":["kms.amazonaws.com"]}]}]}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "advanced: read-only management events",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","advancedEventSelectors":[{"fieldSelectors":[{"field":"eventCategory","equals":["Management"]},{"field":"readOnly","equals":["true"]}]}]}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "advanced: data events only (management events off)",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","advancedEventSelectors":[{"fieldSelectors":[{"field":"eventCategory","equals":["Data"]},{"field":"resources.type","equals":["AWS::S3::Object"]}]}]}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "advanced: a bucket's data events excluded",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t","advancedEventSelectors":[{"fieldSelectors":[{"field":"eventCategory","equals":["Management"]}]},{"fieldSelectors":[{"field":"eventCategory","equals":["Data"]},{"field":"resources.type","equals":["AWS::S3::Object"]},{"field":"resources.ARN","notStartsWith":["arn:aws:s3:::amzn-s3-demo-bucket/"]}]}]}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "UpdateTrail naming the trail only (user guide example); the CIS rule still reports it",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateTrail","requestParameters":{"name":"myTrail2"}}"#,
            Medium,
            TRAIL,
            Info,
            true,
        ),
        (
            "UpdateTrail turning log file validation on",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateTrail","requestParameters":{"name":"t","enableLogFileValidation":true,"isMultiRegionTrail":true}}"#,
            Medium,
            TRAIL,
            Info,
            true,
        ),
        (
            "UpdateTrail to one region",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateTrail","requestParameters":{"name":"management-events","isMultiRegionTrail":false}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "UpdateTrail to another bucket",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateTrail","requestParameters":{"name":"t","s3BucketName":"amzn-s3-demo-bucket2"}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "Insights on",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutInsightSelectors","requestParameters":{"trailName":"t","insightSelectors":[{"insightType":"ApiCallRateInsight"}]}}"#,
            Info,
            TRAIL,
            Info,
            true,
        ),
        (
            "Insights off",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutInsightSelectors","requestParameters":{"trailName":"t","insightSelectors":[]}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
        (
            "event data store termination protection on",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateEventDataStore","requestParameters":{"eventDataStore":"arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/EXAMPLE","terminationProtectionEnabled":true}}"#,
            Info,
            TRAIL,
            Info,
            true,
        ),
        (
            "event data store retention shortened",
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateEventDataStore","requestParameters":{"eventDataStore":"arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/EXAMPLE","retentionPeriod":7}}"#,
            High,
            TRAIL,
            High,
            false,
        ),
    ]);
}

#[test]
fn storage_and_database_settings_are_judged_on_the_new_setting() {
    use Severity::*;
    const VERSIONING: &str = "guide.s3.PutBucketVersioning";
    check(&[
        (
            "versioning enabled",
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketVersioning","requestParameters":{"bucketName":"amzn-s3-demo-bucket","Host":"amzn-s3-demo-bucket.s3.us-west-2.amazonaws.com","versioning":"","VersioningConfiguration":{"Status":"Enabled","xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"}}}"#,
            Info,
            VERSIONING,
            Info,
            true,
        ),
        (
            "versioning and MFA delete enabled",
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketVersioning","requestParameters":{"bucketName":"b","VersioningConfiguration":{"Status":"Enabled","MfaDelete":"Enabled"}}}"#,
            Info,
            VERSIONING,
            Info,
            true,
        ),
        (
            "versioning suspended",
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketVersioning","requestParameters":{"bucketName":"b","VersioningConfiguration":{"Status":"Suspended"}}}"#,
            Medium,
            VERSIONING,
            Medium,
            false,
        ),
        (
            "MFA delete switched off",
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketVersioning","requestParameters":{"bucketName":"b","VersioningConfiguration":{"Status":"Enabled","MfaDelete":"Disabled"}}}"#,
            Medium,
            VERSIONING,
            Medium,
            false,
        ),
        (
            "access logging on",
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketLogging","requestParameters":{"bucketName":"b","BucketLoggingStatus":{"LoggingEnabled":{"TargetBucket":"amzn-s3-demo-logs","TargetPrefix":"logs/"},"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"},"logging":""}}"#,
            Info,
            "guide.s3.PutBucketLogging",
            Info,
            true,
        ),
        (
            "access logging off",
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketLogging","requestParameters":{"bucketName":"b","BucketLoggingStatus":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"},"logging":""}}"#,
            Medium,
            "guide.s3.PutBucketLogging",
            Medium,
            false,
        ),
        (
            "log bucket lifecycle moving objects to Glacier",
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketLifecycle","requestParameters":{"bucketName":"acme-cloudtrail-logs","LifecycleConfiguration":{"Rule":{"ID":"archive","Status":"Enabled","Filter":{"Prefix":""},"Transition":{"Days":90,"StorageClass":"GLACIER"}}}}}"#,
            Medium,
            "baseline.trail-bucket-lifecycle",
            Info,
            true,
        ),
        (
            "log bucket lifecycle expiring objects",
            r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketLifecycle","requestParameters":{"bucketName":"acme-cloudtrail-logs","LifecycleConfiguration":{"Rule":[{"ID":"archive","Status":"Enabled","Transition":{"Days":90,"StorageClass":"GLACIER"}},{"ID":"purge","Status":"Enabled","Expiration":{"Days":1}}]}}}"#,
            Medium,
            "baseline.trail-bucket-lifecycle",
            Medium,
            false,
        ),
        (
            "DB instance deleted with a final snapshot",
            r#"{"eventSource":"rds.amazonaws.com","eventName":"DeleteDBInstance","requestParameters":{"dBInstanceIdentifier":"mydb","skipFinalSnapshot":false,"finalDBSnapshotIdentifier":"mydb-final","deleteAutomatedBackups":true}}"#,
            Medium,
            "guide.rds.DeleteDBInstance",
            Medium,
            true,
        ),
        (
            "DB instance deleted without one",
            r#"{"eventSource":"rds.amazonaws.com","eventName":"DeleteDBInstance","requestParameters":{"dBInstanceIdentifier":"mydb","skipFinalSnapshot":true}}"#,
            High,
            "guide.rds.DeleteDBInstance",
            High,
            false,
        ),
        (
            "DB cluster deleted with a final snapshot",
            r#"{"eventSource":"rds.amazonaws.com","eventName":"DeleteDBCluster","requestParameters":{"dBClusterIdentifier":"c","skipFinalSnapshot":false,"finalDBSnapshotIdentifier":"c-final"}}"#,
            Medium,
            "guide.rds.DeleteDBCluster",
            Medium,
            true,
        ),
        (
            "snapshot no longer shared with an account",
            r#"{"eventSource":"rds.amazonaws.com","eventName":"ModifyDBSnapshotAttribute","requestParameters":{"dBSnapshotIdentifier":"s","attributeName":"restore","valuesToRemove":["444455556666"]}}"#,
            Low,
            "guide.rds.ModifyDBSnapshotAttribute",
            Low,
            true,
        ),
        (
            "snapshot shared with an account",
            r#"{"eventSource":"rds.amazonaws.com","eventName":"ModifyDBSnapshotAttribute","requestParameters":{"dBSnapshotIdentifier":"s","attributeName":"restore","valuesToAdd":["444455556666"]}}"#,
            High,
            "guide.rds.ModifyDBSnapshotAttribute",
            High,
            false,
        ),
    ]);
}

#[test]
fn waf_dns_and_network_automation_is_lowered() {
    use Severity::*;
    const ACL: &str = "guide.waf.UpdateWebACL";
    const DNS: &str = "guide.route53.ChangeResourceRecordSets";
    const ENI: &str = "guide.vpc.DeleteNetworkInterface";
    check(&[
        (
            "WAF Classic: a rule group added",
            r#"{"eventSource":"waf.amazonaws.com","eventName":"UpdateWebACL","requestParameters":{"webACLId":"w1","changeToken":"c1","updates":[{"action":"INSERT","activatedRule":{"priority":1,"ruleId":"r1","overrideAction":{"type":"NONE"},"type":"GROUP"}}],"defaultAction":{"type":"BLOCK"}}}"#,
            Info,
            ACL,
            Info,
            true,
        ),
        (
            "WAF Classic: a blocking rule added",
            r#"{"eventSource":"waf-regional.amazonaws.com","eventName":"UpdateWebACL","requestParameters":{"webACLId":"w1","changeToken":"c1","updates":[{"action":"INSERT","activatedRule":{"priority":2,"ruleId":"r2","action":{"type":"BLOCK"},"type":"REGULAR"}}]}}"#,
            Info,
            ACL,
            Info,
            true,
        ),
        (
            "WAF Classic: a rule removed",
            r#"{"eventSource":"waf.amazonaws.com","eventName":"UpdateWebACL","requestParameters":{"webACLId":"w1","changeToken":"c1","updates":[{"action":"INSERT","activatedRule":{"priority":1,"ruleId":"r1","overrideAction":{"type":"NONE"},"type":"GROUP"}},{"action":"DELETE","activatedRule":{"priority":2,"ruleId":"r2","action":{"type":"BLOCK"},"type":"REGULAR"}}]}}"#,
            Medium,
            ACL,
            Medium,
            false,
        ),
        (
            "WAF Classic: a rule group added in count mode",
            r#"{"eventSource":"waf.amazonaws.com","eventName":"UpdateWebACL","requestParameters":{"webACLId":"w1","changeToken":"c1","updates":[{"action":"INSERT","activatedRule":{"priority":1,"ruleId":"r1","overrideAction":{"type":"COUNT"},"type":"GROUP"}}]}}"#,
            Medium,
            ACL,
            Medium,
            false,
        ),
        (
            "WAF Classic: an allow rule added",
            r#"{"eventSource":"waf.amazonaws.com","eventName":"UpdateWebACL","requestParameters":{"webACLId":"w1","changeToken":"c1","updates":[{"action":"INSERT","activatedRule":{"priority":0,"ruleId":"r3","action":{"type":"ALLOW"},"type":"REGULAR"}}]}}"#,
            Medium,
            ACL,
            Medium,
            false,
        ),
        (
            "WAFv2: the whole definition replaced, not judged",
            r#"{"eventSource":"wafv2.amazonaws.com","eventName":"UpdateWebACL","requestParameters":{"name":"foo","scope":"CLOUDFRONT","id":"e1","defaultAction":{"block":{}},"rules":[{"name":"foo","priority":1,"statement":{"geoMatchStatement":{"countryCodes":["AF"]}},"action":{"block":{}}}],"lockToken":"l1"}}"#,
            Medium,
            ACL,
            Medium,
            false,
        ),
        (
            "ACM validation records",
            r#"{"eventSource":"route53.amazonaws.com","eventName":"ChangeResourceRecordSets","requestParameters":{"hostedZoneId":"Z1","changeBatch":{"changes":[{"action":"UPSERT","resourceRecordSet":{"name":"_x1.example.com.","type":"CNAME","tTL":300,"resourceRecords":[{"value":"_y1.abcdefghij.acm-validations.aws."}]}},{"action":"UPSERT","resourceRecordSet":{"name":"_x2.www.example.com.","type":"CNAME","tTL":300,"resourceRecords":[{"value":"_y2.abcdefghij.acm-validations.aws."}]}}]}}}"#,
            Info,
            DNS,
            Info,
            true,
        ),
        (
            "an A record hidden among ACM validation records",
            r#"{"eventSource":"route53.amazonaws.com","eventName":"ChangeResourceRecordSets","requestParameters":{"hostedZoneId":"Z1","changeBatch":{"changes":[{"action":"UPSERT","resourceRecordSet":{"name":"_x1.example.com.","type":"CNAME","tTL":300,"resourceRecords":[{"value":"_y1.abcdefghij.acm-validations.aws."}]}},{"action":"UPSERT","resourceRecordSet":{"name":"www.example.com.","type":"A","tTL":300,"resourceRecords":[{"value":"192.0.2.1"}]}}]}}}"#,
            Medium,
            DNS,
            Medium,
            false,
        ),
        (
            "external-dns record and its ownership record",
            r#"{"eventSource":"route53.amazonaws.com","eventName":"ChangeResourceRecordSets","userAgent":"aws-sdk-go/1.44.0 (go1.20; linux; amd64) ExternalDNS/v0.13.4","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/eks-external-dns/1700000000000000000"},"requestParameters":{"hostedZoneId":"Z1","changeBatch":{"changes":[{"action":"UPSERT","resourceRecordSet":{"name":"app.example.com.","type":"CNAME","tTL":300,"resourceRecords":[{"value":"k8s-web-0123456789.elb.us-east-1.amazonaws.com"}]}},{"action":"UPSERT","resourceRecordSet":{"name":"cname-app.example.com.","type":"TXT","tTL":300,"resourceRecords":[{"value":"\"heritage=external-dns,external-dns/owner=prod,external-dns/resource=ingress/web/app\""}]}}]}}}"#,
            Info,
            DNS,
            Info,
            true,
        ),
        (
            "an ownership record written by someone else",
            r#"{"eventSource":"route53.amazonaws.com","eventName":"ChangeResourceRecordSets","userAgent":"aws-cli/2.15.0","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory"},"requestParameters":{"hostedZoneId":"Z1","changeBatch":{"changes":[{"action":"UPSERT","resourceRecordSet":{"name":"app.example.com.","type":"A","tTL":300,"resourceRecords":[{"value":"198.51.100.9"}]}},{"action":"UPSERT","resourceRecordSet":{"name":"app.example.com.","type":"TXT","tTL":300,"resourceRecords":[{"value":"\"heritage=external-dns,external-dns/owner=prod\""}]}}]}}}"#,
            Medium,
            DNS,
            Medium,
            false,
        ),
        (
            "RDS deleting its network interface",
            r#"{"eventSource":"ec2.amazonaws.com","eventName":"DeleteNetworkInterface","sourceIPAddress":"rds.amazonaws.com","userAgent":"rds.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForRDS/SLRManagement","invokedBy":"rds.amazonaws.com"},"requestParameters":{"networkInterfaceId":"eni-0938d805949b4e134"}}"#,
            Info,
            ENI,
            Info,
            true,
        ),
        (
            "a person deleting a network interface",
            r#"{"eventSource":"ec2.amazonaws.com","eventName":"DeleteNetworkInterface","sourceIPAddress":"192.0.2.10","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice"},"requestParameters":{"networkInterfaceId":"eni-06b7a305fe9519d03"}}"#,
            Low,
            ENI,
            Low,
            false,
        ),
        (
            "an AWS service detaching one",
            r#"{"eventSource":"ec2.amazonaws.com","eventName":"DetachNetworkInterface","sourceIPAddress":"ecs.amazonaws.com","userIdentity":{"type":"AWSService","invokedBy":"ecs.amazonaws.com"},"requestParameters":{"attachmentId":"eni-attach-1","force":false}}"#,
            Info,
            "guide.vpc.DetachNetworkInterface",
            Info,
            true,
        ),
    ]);
}
