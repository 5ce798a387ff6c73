//! Notification mode: objects announced by S3 ObjectCreated events on an SQS queue (sent by
//! S3 directly, through SNS, or by EventBridge), for buckets too large to list every minute.
//!
//! A cycle long-polls the queue until it is empty. For each batch of messages, the announced
//! delivery objects not read yet are read (several at once) and stored in one transaction
//! with their ledger rows; only then are the messages deleted. A message is deleted when every
//! object it names is stored, was stored before, or holds no records (body objects, the
//! permission check, keys outside the layout, test events). Any other message stays on the
//! queue and is reported with its receive count, for the queue's redrive policy: a body that
//! is no notification, an object that is missing or cannot be read. Nothing that failed is
//! ever deleted.
//!
//! Every replica consumes the queue (SQS hands each message to one of them); the ledger and
//! the invocations' request ids keep a message delivered twice from counting twice.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_s3::Client as S3Client;
use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use tokio::sync::watch;

use super::events::{Notification, ObjectRef, parse};
use super::keys::{KeyKind, KeySkip, classify};
use super::object::{ObjectError, ObjectToRead};
use super::poller::{Prefix, PrefixIds, SOURCE_KIND};
use super::reads::ObjectReads;
use crate::config::{S3SourceConfig, SourceConfig};
use crate::ingest::{BatchWriter, ParsedBatch, PricingContext};
use crate::sources::SourceError;
use crate::sources::profiles::ProfileResolver;
use crate::store::Store;

/// Messages per ReceiveMessage (the API's maximum).
const MAX_MESSAGES: i32 = 10;

/// A cycle ends after this long even if the queue still has messages, so a busy queue still
/// reports its health and counts every minute or so; the next cycle follows at once.
const CYCLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationCycle {
    pub messages: u64,
    /// Messages deleted after their objects were stored (or had nothing to store).
    pub deleted: u64,
    /// Messages left on the queue, with why: retried after their visibility timeout, then
    /// handed to the redrive policy.
    pub kept: Vec<String>,
    /// Times the received messages' visibility was extended while their objects were read.
    pub visibility_extensions: u64,
    /// Objects read, and announced objects found already read.
    pub read: u64,
    pub already_read: u64,
    /// Announced keys that hold no records, by why.
    pub skipped: BTreeMap<&'static str, u64>,
    pub records: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// False when shutdown interrupted the cycle.
    pub completed: bool,
}

/// Consumes one source's notification queue.
pub struct NotificationPoller {
    source_name: String,
    config: S3SourceConfig,
    queue_url: String,
    wait_seconds: i32,
    /// How long a received message stays hidden (`sqs_visibility_timeout`): far longer than
    /// reading ten objects takes. Should it run out, the message comes back and is found done.
    visibility_seconds: i32,
    sqs: SqsClient,
    s3: S3Client,
    store: Store,
    context: watch::Receiver<PricingContext>,
    /// The context of this cycle, with the profiles resolved so far.
    current: PricingContext,
    profiles: ProfileResolver,
    writer: BatchWriter,
    source_ids: PrefixIds,
}

/// A received message and what its objects need.
struct Received {
    id: String,
    receipt_handle: String,
    receive_count: String,
    /// Why it must stay on the queue, once known.
    keep: Option<String>,
    /// Indexes of its objects in the batch's read list.
    objects: Vec<usize>,
}

impl NotificationPoller {
    /// `None` when the source has no queue.
    pub fn new(
        source: &SourceConfig,
        sqs: SqsClient,
        s3: S3Client,
        profiles: ProfileResolver,
        store: Store,
        context: watch::Receiver<PricingContext>,
    ) -> Option<NotificationPoller> {
        let config = source.s3.clone()?;
        let queue_url = config.sqs_queue_url.clone()?;
        let current = context.borrow().clone();
        Some(NotificationPoller {
            current,
            profiles,
            source_name: source.name.clone(),
            wait_seconds: i32::try_from(config.sqs_wait.as_secs())
                .unwrap_or(20)
                .clamp(0, 20),
            visibility_seconds: i32::try_from(config.sqs_visibility_timeout.as_secs())
                .unwrap_or(300)
                .clamp(1, 43_200),
            queue_url,
            config,
            sqs,
            s3,
            writer: BatchWriter::new(store.clone(), SOURCE_KIND),
            store,
            context,
            source_ids: PrefixIds::default(),
        })
    }

    /// Receives and processes messages until the queue has none, a minute has passed, or
    /// `stop` turns true.
    pub async fn poll(
        &mut self,
        stop: &watch::Receiver<bool>,
    ) -> Result<NotificationCycle, SourceError> {
        self.current = self.profiles.extend(&self.context.borrow_and_update());
        let mut cycle = NotificationCycle {
            completed: true,
            ..NotificationCycle::default()
        };
        let started = std::time::Instant::now();
        while started.elapsed() < CYCLE_LIMIT {
            let messages = tokio::select! {
                received = self.receive() => received?,
                _ = stopped(stop.clone()) => {
                    cycle.completed = false;
                    return Ok(cycle);
                }
            };
            if messages.is_empty() {
                return Ok(cycle);
            }
            self.process(messages, &mut cycle).await?;
            if *stop.borrow() {
                cycle.completed = false;
                return Ok(cycle);
            }
        }
        Ok(cycle)
    }

    async fn receive(&self) -> Result<Vec<Message>, SourceError> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(MAX_MESSAGES)
            .wait_time_seconds(self.wait_seconds)
            .visibility_timeout(self.visibility_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|error| SourceError::aws("ReceiveMessage", error))?;
        Ok(output.messages.unwrap_or_default())
    }

    /// Reads the objects of a batch of messages, stores them in one transaction, then deletes
    /// the messages that are done.
    async fn process(
        &mut self,
        messages: Vec<Message>,
        cycle: &mut NotificationCycle,
    ) -> Result<(), SourceError> {
        cycle.messages += messages.len() as u64;
        let mut received = Vec::with_capacity(messages.len());
        let mut to_read: Vec<ObjectToRead> = Vec::new();
        for message in messages {
            let entry = self.plan(message, &mut to_read, cycle).await?;
            received.extend(entry);
        }
        // Received messages stay hidden until they are deleted or left, however long the
        // objects take (Filebeat's keepalive; Vector has none and sees duplicates).
        let heartbeat = Heartbeat::start(
            self.sqs.clone(),
            self.queue_url.clone(),
            received
                .iter()
                .map(|entry| entry.receipt_handle.clone())
                .collect(),
            self.visibility_seconds,
        );
        let unreadable = self.read_and_store(to_read, cycle).await;
        cycle.visibility_extensions += heartbeat.stop().await;
        let unreadable = unreadable?;
        for entry in &mut received {
            if let Some(why) = entry.objects.iter().find_map(|index| unreadable.get(index)) {
                entry.keep = Some(why.clone());
            }
        }
        self.delete_done(&received, cycle).await?;
        for entry in received.iter().filter(|entry| entry.keep.is_some()) {
            let why = entry.keep.as_deref().unwrap_or_default();
            tracing::warn!(
                source = self.source_name,
                message_id = entry.id,
                receive_count = entry.receive_count,
                "an SQS message stays on the queue: {why}"
            );
            cycle.kept.push(format!(
                "message {} (received {} times): {why}",
                entry.id, entry.receive_count
            ));
        }
        Ok(())
    }

    /// What a message asks for: its objects to read are added to `to_read`. `None` for a
    /// message without a receipt handle (it cannot be deleted, so it is only reported).
    async fn plan(
        &mut self,
        message: Message,
        to_read: &mut Vec<ObjectToRead>,
        cycle: &mut NotificationCycle,
    ) -> Result<Option<Received>, SourceError> {
        let id = message.message_id.clone().unwrap_or_default();
        let receive_count = message
            .attributes
            .as_ref()
            .and_then(|attributes| {
                attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .cloned()
            .unwrap_or_else(|| "?".into());
        let Some(receipt_handle) = message.receipt_handle.clone() else {
            cycle
                .kept
                .push(format!("message {id}: no receipt handle, cannot delete it"));
            return Ok(None);
        };
        let mut entry = Received {
            id,
            receipt_handle,
            receive_count,
            keep: None,
            objects: Vec::new(),
        };
        match parse(message.body().unwrap_or_default()) {
            Err(error) => entry.keep = Some(error.to_string()),
            Ok(Notification::Test) => {}
            Ok(Notification::Created(objects)) => {
                for object in objects {
                    if let Some(wanted) = self.wanted(object, cycle).await? {
                        entry.objects.push(to_read.len());
                        to_read.push(wanted);
                    }
                }
            }
        }
        Ok(Some(entry))
    }

    /// The object to read for an announced one; `None` when there is nothing to read.
    async fn wanted(
        &mut self,
        object: ObjectRef,
        cycle: &mut NotificationCycle,
    ) -> Result<Option<ObjectToRead>, SourceError> {
        let kind = if object.bucket == self.config.uri.bucket {
            classify(&self.config.uri, &object.key)
        } else {
            KeyKind::Skip(KeySkip::NotADelivery)
        };
        let (account, region) = match kind {
            KeyKind::Delivery {
                account, region, ..
            } => (account, region),
            KeyKind::Skip(why) => {
                *cycle.skipped.entry(why.as_str()).or_default() += 1;
                return Ok(None);
            }
        };
        if !wanted(&self.config.accounts, &account) || !wanted(&self.config.regions, &region) {
            *cycle.skipped.entry("filtered_out").or_default() += 1;
            return Ok(None);
        }
        let prefix = Prefix::new(&self.source_name, &self.config.uri, &account, &region);
        if let Some(etag) = &object.etag {
            let source_id = self.source_ids.id(&self.store, &prefix.source).await?;
            let etag = etag.trim_matches('"');
            if self
                .store
                .object_is_read(source_id, &object.key, etag)
                .await?
            {
                cycle.already_read += 1;
                return Ok(None);
            }
        }
        Ok(Some(ObjectToRead {
            bucket: object.bucket,
            key: object.key,
            etag: object.etag,
            source: prefix.source,
        }))
    }

    /// Reads the objects and stores what was read in one transaction. Returns, by index, why
    /// the objects that could not be read were not.
    async fn read_and_store(
        &mut self,
        to_read: Vec<ObjectToRead>,
        cycle: &mut NotificationCycle,
    ) -> Result<HashMap<usize, String>, SourceError> {
        let mut unreadable = HashMap::new();
        let mut reads = ObjectReads::new(&self.s3, &self.current, to_read, self.config.concurrency);
        let mut batch = ParsedBatch::default();
        let mut index = 0;
        while let Some((_, read)) = reads.next().await {
            match read {
                Ok(object) => {
                    cycle.read += 1;
                    cycle.records += object.len() as u64;
                    batch.append(object);
                }
                Err(error @ ObjectError::Missing { .. }) => {
                    unreadable.insert(index, format!("{error}; left for the redrive policy"));
                }
                Err(error) => {
                    unreadable.insert(index, error.to_string());
                }
            }
            index += 1;
        }
        if !batch.is_empty() || !batch.objects.is_empty() {
            let now_ms = chrono::Utc::now().timestamp_millis();
            self.profiles
                .resolve_batch(&mut batch, &mut self.current, now_ms)
                .await;
            cycle.rejected += batch.rejected.len() as u64;
            let outcome = self.writer.write(batch, None).await?;
            cycle.imported += outcome.inserted;
            // Expired records (older than retention keeps) are already in the rollups, too.
            cycle.duplicates += outcome.duplicates + outcome.expired;
        }
        Ok(unreadable)
    }

    /// Deletes the messages that are done (after their objects' transaction committed).
    async fn delete_done(
        &self,
        received: &[Received],
        cycle: &mut NotificationCycle,
    ) -> Result<(), SourceError> {
        let mut entries = Vec::new();
        for (index, entry) in received.iter().enumerate() {
            if entry.keep.is_some() {
                continue;
            }
            let request = DeleteMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .receipt_handle(&entry.receipt_handle)
                .build()
                .map_err(|error| SourceError::Parser(error.to_string()))?;
            entries.push(request);
        }
        if entries.is_empty() {
            return Ok(());
        }
        let output = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| SourceError::aws("DeleteMessageBatch", error))?;
        cycle.deleted += output.successful().len() as u64;
        for failure in output.failed() {
            // Its objects are stored: the message comes back and is then found done.
            tracing::warn!(
                source = self.source_name,
                code = failure.code(),
                message = failure.message().unwrap_or_default(),
                "an SQS message could not be deleted; it will be seen again and skipped"
            );
        }
        Ok(())
    }
}

/// Extends the visibility of received messages every half timeout until stopped.
struct Heartbeat {
    task: tokio::task::JoinHandle<u64>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Heartbeat {
    fn start(
        sqs: SqsClient,
        queue_url: String,
        receipt_handles: Vec<String>,
        visibility_seconds: i32,
    ) -> Heartbeat {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let period =
            std::time::Duration::from_millis(u64::from(visibility_seconds.unsigned_abs()) * 500);
        let task = tokio::spawn(async move {
            let mut extensions = 0;
            loop {
                tokio::select! {
                    _ = &mut stopped => return extensions,
                    _ = tokio::time::sleep(period) => {}
                }
                if extend(&sqs, &queue_url, &receipt_handles, visibility_seconds).await {
                    extensions += 1;
                }
            }
        });
        Heartbeat { task, stop }
    }

    /// Stops extending; returns how many times it did.
    async fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}

/// One ChangeMessageVisibilityBatch for the messages; false when it failed (logged: the
/// messages may then come back while they are being read, and are found done).
async fn extend(sqs: &SqsClient, queue_url: &str, handles: &[String], seconds: i32) -> bool {
    let entries: Result<Vec<_>, _> = handles
        .iter()
        .enumerate()
        .map(|(index, handle)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(index.to_string())
                .receipt_handle(handle)
                .visibility_timeout(seconds)
                .build()
        })
        .collect();
    let Ok(entries) = entries else { return false };
    match sqs
        .change_message_visibility_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(_) => true,
        Err(error) => {
            let error = SourceError::aws("ChangeMessageVisibilityBatch", error);
            tracing::warn!(%error, "cannot keep SQS messages hidden while their objects are read");
            false
        }
    }
}

fn wanted(filter: &[String], name: &str) -> bool {
    filter.is_empty() || filter.iter().any(|wanted| wanted == name)
}

/// Resolves once `stop` is true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            // The sender is gone: nothing will ever stop us; wait forever.
            std::future::pending::<()>().await;
        }
    }
}
