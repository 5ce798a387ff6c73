//! Objects read a few at a time, handed back in the order they were asked for: the listing's
//! checkpoint can then advance over a contiguous run of keys, while downloads and parsing of
//! the next objects go on as the previous batch is written.

use std::collections::VecDeque;

use aws_sdk_s3::Client;
use tokio::task::JoinHandle;

use super::object::{ObjectError, ObjectToRead, read_object};
use crate::ingest::{ParsedBatch, PricingContext};

type Read = Result<ParsedBatch, ObjectError>;

/// Reads of a list of objects, at most `concurrency` running at once.
pub struct ObjectReads {
    client: Client,
    context: PricingContext,
    concurrency: usize,
    waiting: VecDeque<ObjectToRead>,
    running: VecDeque<(ObjectToRead, JoinHandle<Read>)>,
}

impl ObjectReads {
    pub fn new(
        client: &Client,
        context: &PricingContext,
        objects: impl IntoIterator<Item = ObjectToRead>,
        concurrency: usize,
    ) -> ObjectReads {
        let mut reads = ObjectReads {
            client: client.clone(),
            context: context.clone(),
            concurrency: concurrency.max(1),
            waiting: objects.into_iter().collect(),
            running: VecDeque::new(),
        };
        reads.start_more();
        reads
    }

    /// The next object in order, with its records or why it could not be read.
    pub async fn next(&mut self) -> Option<(ObjectToRead, Read)> {
        let (object, handle) = self.running.pop_front()?;
        self.start_more();
        let read = match handle.await {
            Ok(read) => read,
            Err(error) => Err(ObjectError::Failed {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                message: format!("the reading task failed: {error}"),
            }),
        };
        Some((object, read))
    }

    fn start_more(&mut self) {
        while self.running.len() < self.concurrency {
            let Some(object) = self.waiting.pop_front() else {
                return;
            };
            let client = self.client.clone();
            let context = self.context.clone();
            let to_read = object.clone();
            let handle =
                tokio::spawn(async move { read_object(&client, &to_read, &context).await });
            self.running.push_back((object, handle));
        }
    }
}

impl Drop for ObjectReads {
    /// Reads nobody will take (a stop, an error) are cancelled; nothing of theirs is stored.
    fn drop(&mut self) {
        for (_, handle) in &self.running {
            handle.abort();
        }
    }
}
