//! An SQS queue of notifications: long-polled receives, deletes after the work is recorded, and
//! visibility extensions while a message's work is still running. What a body means is decided
//! by [`crate::source::notification`].

use crate::aws::describe;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageSystemAttributeName;

/// One received message.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub receipt: String,
    pub body: String,
    /// How many times SQS has handed this message out (1 on first delivery).
    pub receive_count: u32,
    /// When SQS accepted the message (unix milliseconds), when it said.
    pub sent_at: Option<i64>,
}

/// An SQS call that failed, naming the queue.
#[derive(Debug, thiserror::Error)]
#[error("{queue}: {action} failed: {reason}")]
pub struct SqsError {
    pub queue: String,
    pub action: &'static str,
    pub reason: String,
}

/// A queue, by URL.
#[derive(Clone)]
pub struct Queue {
    client: Client,
    pub url: String,
}

impl Queue {
    pub fn new(client: Client, url: &str) -> Queue {
        Queue {
            client,
            url: url.to_string(),
        }
    }

    fn err(&self, action: &'static str, e: &(dyn std::error::Error + 'static)) -> SqsError {
        SqsError {
            queue: self.url.clone(),
            action,
            reason: describe(e),
        }
    }

    /// Receives up to `max` (≤ 10) messages, waiting up to `wait_secs` (≤ 20) for the first.
    pub async fn receive(
        &self,
        max: i32,
        wait_secs: i32,
        visibility_secs: Option<i32>,
    ) -> Result<Vec<Message>, SqsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .set_visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| self.err("ReceiveMessage", &e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let attribute = |name| m.attributes().and_then(|a| a.get(&name));
                let receive_count = attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                let sent_at = attribute(MessageSystemAttributeName::SentTimestamp)
                    .and_then(|t| t.parse().ok());
                Some(Message {
                    id: m.message_id()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receive_count,
                    sent_at,
                })
            })
            .collect())
    }

    /// Deletes a message whose work is recorded.
    pub async fn delete(&self, receipt: &str) -> Result<(), SqsError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("DeleteMessage", &e))
    }

    /// Keeps a message invisible for `secs` more seconds (work still running), or makes it
    /// visible again after `secs` (work given back).
    pub async fn set_visibility(&self, receipt: &str, secs: i32) -> Result<(), SqsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs.clamp(0, 43_200))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("ChangeMessageVisibility", &e))
    }
}
