//! S3 and SQS against the local moto server that `scripts/test.sh` starts (`scripts/moto.sh`).
//!
//! Tests call [`moto()`] and return early on `None`. Every test makes its own buckets and queues
//! with [`Moto::unique`] names, so tests run in parallel against one server without a reset.

use crate::support::services::{MOTO, gate};
use crate::support::unique;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use std::time::{Duration, Instant};

/// The moto server of `TRAILWATCH_TEST_ENDPOINT` with S3 and SQS clients for it, or `None` (with a
/// message) when `TRAILWATCH_SKIP_MOTO=1` and no endpoint is set. Without either, it panics: a
/// plain `cargo test` must not pass while silently skipping the AWS tests.
pub fn moto() -> Option<Moto> {
    let endpoint = gate(&MOTO)?;
    Some(Moto::new(endpoint.trim_end_matches('/').to_string()))
}

/// Blocking S3/SQS helpers over the SDK clients. Each call runs on the struct's own runtime;
/// any error panics with the SDK's full error context.
pub struct Moto {
    pub endpoint: String,
    rt: tokio::runtime::Runtime,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// Panics with the SDK error's whole chain (the `Display` of an `SdkError` alone says little).
fn ok<T, E: std::error::Error>(what: &str, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {}", DisplayErrorContext(e)))
}

impl Moto {
    fn new(endpoint: String) -> Moto {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        // Static credentials, a region and the endpoint: nothing from the ambient environment,
        // no profile files, no instance metadata.
        let conf = rt.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "static"))
                .endpoint_url(&endpoint)
                .load(),
        );
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::new(&conf);
        Moto {
            endpoint,
            rt,
            s3,
            sqs,
        }
    }

    /// Runs a future on this harness's runtime (for SDK calls the helpers do not cover).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A name no other test (in this or a parallel process) uses: `stem-PID-N-MILLIS`, lowercase,
    /// at most 63 characters, valid for buckets and queues.
    pub fn unique(&self, stem: &str) -> String {
        let mut stem: String = stem
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9') => c,
                _ => '-',
            })
            .take(24)
            .collect();
        stem = stem.trim_matches('-').to_string();
        if stem.is_empty() {
            stem.push('t');
        }
        unique(&stem)
    }

    pub fn create_bucket(&self, name: &str) {
        let r = self.block_on(self.s3.create_bucket().bucket(name).send());
        ok(&format!("CreateBucket {name}"), r);
    }

    pub fn put_object(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let r = self.block_on(
            self.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(bytes.to_vec()))
                .send(),
        );
        ok(&format!("PutObject s3://{bucket}/{key}"), r);
    }

    pub fn delete_object(&self, bucket: &str, key: &str) {
        let r = self.block_on(self.s3.delete_object().bucket(bucket).key(key).send());
        ok(&format!("DeleteObject s3://{bucket}/{key}"), r);
    }

    /// Every key under `prefix`, in S3's (lexicographic) order, across all pages.
    pub fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.block_on(async {
            let mut pages = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            let mut keys = Vec::new();
            while let Some(page) = pages.next().await {
                let page = ok(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), page);
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(String::from)),
                );
            }
            keys
        })
    }

    /// Creates a standard queue and returns its URL.
    pub fn create_queue(&self, name: &str) -> String {
        let r = self.block_on(self.sqs.create_queue().queue_name(name).send());
        let out = ok(&format!("CreateQueue {name}"), r);
        out.queue_url()
            .expect("CreateQueue returned no QueueUrl")
            .to_string()
    }

    pub fn delete_queue(&self, url: &str) {
        let r = self.block_on(self.sqs.delete_queue().queue_url(url).send());
        ok(&format!("DeleteQueue {url}"), r);
    }

    fn attributes(&self, url: &str, names: &[QueueAttributeName]) -> Vec<String> {
        let mut req = self.sqs.get_queue_attributes().queue_url(url);
        for n in names {
            req = req.attribute_names(n.clone());
        }
        let out = ok(
            &format!("GetQueueAttributes {url}"),
            self.block_on(req.send()),
        );
        let attrs = out.attributes();
        names
            .iter()
            .map(|n| match attrs.and_then(|a| a.get(n)) {
                Some(v) => v.clone(),
                None => panic!("GetQueueAttributes {url}: no {}", n.as_str()),
            })
            .collect()
    }

    pub fn queue_arn(&self, url: &str) -> String {
        self.attributes(url, &[QueueAttributeName::QueueArn])
            .remove(0)
    }

    /// Sends `s3:ObjectCreated:*` events for keys under `prefix` in `bucket` to the queue, then
    /// drains the `s3:TestEvent` that S3 (and moto) sends when the configuration is set, so the
    /// queue then holds only real object events.
    pub fn notify_bucket_to_queue(&self, bucket: &str, queue_arn: &str, prefix: &str) {
        let filter = NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(
                        FilterRule::builder()
                            .name(FilterRuleName::Prefix)
                            .value(prefix)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let queue = QueueConfiguration::builder()
            .id("trailwatch-test")
            .queue_arn(queue_arn)
            .events(Event::S3ObjectCreated)
            .filter(filter)
            .build()
            .expect("queue configuration");
        let conf = NotificationConfiguration::builder()
            .queue_configurations(queue)
            .build();
        let r = self.block_on(
            self.s3
                .put_bucket_notification_configuration()
                .bucket(bucket)
                .notification_configuration(conf)
                .send(),
        );
        ok(&format!("PutBucketNotificationConfiguration {bucket}"), r);

        let name = queue_arn.rsplit(':').next().unwrap_or(queue_arn);
        let r = self.block_on(self.sqs.get_queue_url().queue_name(name).send());
        let url = ok(&format!("GetQueueUrl {name}"), r)
            .queue_url()
            .expect("GetQueueUrl returned no QueueUrl")
            .to_string();
        self.drain_test_event(&url, bucket);
    }

    /// Receives until the `s3:TestEvent` for `bucket` arrives (deleting it); other messages
    /// received on the way are made visible again at once.
    fn drain_test_event(&self, url: &str, bucket: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let r = self.block_on(
                self.sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send(),
            );
            let out = ok(&format!("ReceiveMessage {url}"), r);
            let mut found = false;
            for m in out.messages() {
                let body: serde_json::Value =
                    serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
                let handle = m.receipt_handle().expect("message without receipt handle");
                if body["Event"] == "s3:TestEvent" && body["Bucket"] == bucket {
                    let r = self.block_on(
                        self.sqs
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(handle)
                            .send(),
                    );
                    ok(&format!("DeleteMessage {url}"), r);
                    found = true;
                } else {
                    let r = self.block_on(
                        self.sqs
                            .change_message_visibility()
                            .queue_url(url)
                            .receipt_handle(handle)
                            .visibility_timeout(0)
                            .send(),
                    );
                    ok(&format!("ChangeMessageVisibility {url}"), r);
                }
            }
            if found {
                return;
            }
        }
        panic!("no s3:TestEvent for bucket {bucket} arrived on {url} within 10 s");
    }

    /// Sends `body` and returns the message id.
    pub fn send_message(&self, url: &str, body: &str) -> String {
        let r = self.block_on(
            self.sqs
                .send_message()
                .queue_url(url)
                .message_body(body)
                .send(),
        );
        ok(&format!("SendMessage {url}"), r)
            .message_id()
            .expect("SendMessage returned no MessageId")
            .to_string()
    }

    /// Receives and deletes every message available now: the first receive long-polls up to
    /// `wait_secs` for something to arrive, later ones do not wait. Returns the bodies in the
    /// order received.
    pub fn receive_bodies(&self, url: &str, wait_secs: i32) -> Vec<String> {
        let mut bodies = Vec::new();
        let mut wait = wait_secs;
        loop {
            let r = self.block_on(
                self.sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(wait)
                    .send(),
            );
            let out = ok(&format!("ReceiveMessage {url}"), r);
            if out.messages().is_empty() {
                return bodies;
            }
            wait = 0;
            let mut entries = Vec::new();
            for (i, m) in out.messages().iter().enumerate() {
                bodies.push(m.body().unwrap_or_default().to_string());
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().expect("message without receipt handle"))
                    .build()
                    .expect("batch entry");
                entries.push(entry);
            }
            let r = self.block_on(
                self.sqs
                    .delete_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send(),
            );
            let out = ok(&format!("DeleteMessageBatch {url}"), r);
            assert!(
                out.failed().is_empty(),
                "DeleteMessageBatch {url}: {:?}",
                out.failed()
            );
        }
    }

    /// (ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible): (visible, in flight).
    pub fn queue_counts(&self, url: &str) -> (u64, u64) {
        let v = self.attributes(
            url,
            &[
                QueueAttributeName::ApproximateNumberOfMessages,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ],
        );
        let num = |s: &str| -> u64 {
            s.parse()
                .unwrap_or_else(|_| panic!("{url}: count {s:?} is not a number"))
        };
        (num(&v[0]), num(&v[1]))
    }

    /// Moves a message to the queue `dlq_arn` once it has been received `max_receive` times.
    pub fn set_redrive(&self, url: &str, dlq_arn: &str, max_receive: u32) {
        let policy = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receive.to_string(),
        });
        let r = self.block_on(
            self.sqs
                .set_queue_attributes()
                .queue_url(url)
                .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
                .send(),
        );
        ok(&format!("SetQueueAttributes RedrivePolicy {url}"), r);
    }
}

/// Form-URL decoding (`+` is a space, then percent-decoding), as S3 event keys need.
fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .expect("UTF-8 key")
        .into_owned()
}

#[test]
fn put_object_notifies_the_queue_with_an_encoded_key() {
    let Some(m) = moto() else { return };
    let bucket = m.unique("ct-logs");
    let queue = m.unique("ct-events");
    m.create_bucket(&bucket);
    let url = m.create_queue(&queue);
    let arn = m.queue_arn(&url);
    assert!(arn.ends_with(&format!(":{queue}")), "{arn}");
    m.notify_bucket_to_queue(&bucket, &arn, "AWSLogs/");
    assert_eq!(m.queue_counts(&url), (0, 0), "the TestEvent was drained");

    let key = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/x y+z=.json.gz";
    m.put_object(&bucket, key, b"not really gzip");
    m.put_object(&bucket, "elsewhere/ignored.json.gz", b"outside the prefix");
    assert_eq!(m.list_keys(&bucket, "AWSLogs/"), [key]);
    assert_eq!(m.list_keys(&bucket, "").len(), 2);

    let bodies = m.receive_bodies(&url, 2);
    assert_eq!(
        bodies.len(),
        1,
        "one event, none for the other prefix: {bodies:?}"
    );
    let event: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let record = &event["Records"][0];
    assert_eq!(record["eventSource"], "aws:s3");
    assert!(
        record["eventName"]
            .as_str()
            .unwrap()
            .starts_with("ObjectCreated:"),
        "{record}"
    );
    assert_eq!(record["s3"]["bucket"]["name"], bucket.as_str());
    let raw = record["s3"]["object"]["key"].as_str().unwrap();
    assert!(
        !raw.contains(' ') && raw.contains('+'),
        "key not form-encoded: {raw}"
    );
    assert_eq!(form_decode(raw), key);
    assert_eq!(m.queue_counts(&url), (0, 0), "received and deleted");

    m.delete_object(&bucket, key);
    assert_eq!(m.list_keys(&bucket, "AWSLogs/"), Vec::<String>::new());
    assert!(
        m.receive_bodies(&url, 0).is_empty(),
        "deletes are not ObjectCreated"
    );
}

#[test]
fn send_receive_round_trip() {
    let Some(m) = moto() else { return };
    let url = m.create_queue(&m.unique("round-trip"));
    assert!(
        url.starts_with(&m.endpoint),
        "{url} is not on {}",
        m.endpoint
    );
    let a = m.send_message(&url, r#"{"n":1}"#);
    let b = m.send_message(&url, "two ✓");
    assert_ne!(a, b);
    assert_eq!(m.queue_counts(&url), (2, 0));
    let mut bodies = m.receive_bodies(&url, 1);
    bodies.sort();
    assert_eq!(bodies, ["two ✓", r#"{"n":1}"#]);
    assert_eq!(m.queue_counts(&url), (0, 0));
    // Nothing left: an empty long poll returns empty after its wait.
    assert!(m.receive_bodies(&url, 1).is_empty());
}

#[test]
fn in_flight_count_and_redrive_to_a_dead_letter_queue() {
    let Some(m) = moto() else { return };
    let url = m.create_queue(&m.unique("work"));
    let dlq = m.create_queue(&m.unique("work-dlq"));
    m.set_redrive(&url, &m.queue_arn(&dlq), 1);
    m.send_message(&url, "poison");
    m.send_message(&url, "fine");

    // Receive one without deleting it: it is in flight until its visibility timeout.
    let receive = |visibility: i32| {
        let out = m.block_on(
            m.sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(1)
                .visibility_timeout(visibility)
                .send(),
        );
        ok("ReceiveMessage", out).messages().len()
    };
    assert_eq!(receive(30), 1);
    assert_eq!(m.queue_counts(&url), (1, 1));
    // The other one, released at once: received once = maxReceiveCount, so the next receive
    // moves it to the dead-letter queue instead of returning it.
    assert_eq!(receive(0), 1);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(receive(30), 0);
    assert_eq!(m.receive_bodies(&dlq, 1).len(), 1);
    assert_eq!(m.queue_counts(&url), (0, 1));
}
