//! Sources: where CloudTrail data comes from. Each source hands bytes, with a name to show users,
//! to [`crate::scan::scan_bytes`].
//!
//! - [`file`](mod@file): local files and directories (gzip, size limits, walking).
//! - [`layout`]: the S3 key layout CloudTrail writes (`AWSLogs/<account>/CloudTrail/<region>/...`),
//!   used to prune listings by account, region and date.
//! - [`s3`]: listing and reading objects.
//! - [`sqs`]: receiving and acknowledging queue messages.
//! - [`notification`]: the bodies those messages carry (S3 events, SNS, EventBridge).

pub mod file;
pub mod layout;
pub mod notification;
pub mod s3;
pub mod sqs;
