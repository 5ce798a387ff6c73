//! Invocation logs delivered to S3.
//!
//! Bedrock writes batches of records as gzipped JSON objects under
//! `{prefix}AWSLogs/{account}/BedrockModelInvocationLogs/{region}/YYYY/MM/DD/HH/`, object
//! names starting with their UTC time, so keys sort in time order within an account and
//! region. Beside them it writes offloaded bodies under `…/HH/data/` and a zero-byte
//! `amazon-bedrock-logs-permission-check` object under the configured prefix; neither holds
//! records.
//!
//! - [`keys`]: the bucket URI, and what a key is (a delivery of an account and region at an
//!   hour, or an object to skip, and why);
//! - [`listing`]: the accounts and regions a bucket holds, and the delivery objects of one
//!   after a key, a page at a time;
//! - [`object`]: one object fetched and parsed as it streams in; [`reads`]: several at once,
//!   handed back in order;
//! - [`poller`]: listing mode (checkpoint per account × region, lookback, ledger of objects
//!   read);
//! - [`events`] and [`notifications`]: notification mode (S3 ObjectCreated events from SQS,
//!   directly or through SNS or EventBridge).

pub mod events;
pub mod keys;
pub mod listing;
pub mod notifications;
pub mod object;
pub mod poller;
pub mod reads;
