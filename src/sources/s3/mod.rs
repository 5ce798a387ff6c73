//! Invocation logs delivered to S3 (issue 13, in progress).
//!
//! Bedrock writes batches of records as gzipped JSON objects under
//! `{prefix}AWSLogs/{account}/BedrockModelInvocationLogs/{region}/YYYY/MM/DD/HH/`, object
//! names starting with their UTC time, so keys sort in time order within an account and
//! region. Beside them it writes offloaded bodies under `…/HH/data/` and a zero-byte
//! `amazon-bedrock-logs-permission-check` object under the configured prefix; neither holds
//! records.
//!
//! The pieces so far, used by the source being built:
//! - [`keys`]: the bucket URI, and what a key is (a delivery of an account and region at an
//!   hour, or an object to skip, and why);
//! - [`events`]: S3 ObjectCreated notifications as SQS receives them, directly or through SNS
//!   or EventBridge;
//! - [`listing`]: the accounts and regions a bucket holds, and the delivery objects of one
//!   after a key.

pub mod events;
pub mod keys;
pub mod listing;
