//! Sources: where CloudTrail data comes from. Each source hands bytes, with a name to show users,
//! to [`crate::scan::scan_bytes`].

pub mod aws;
pub mod file;
pub mod layout;
pub mod s3;
pub mod sqs;
