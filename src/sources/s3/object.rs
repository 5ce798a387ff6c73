//! Reading one delivery object: GetObject, its body streamed through the same reader `import`
//! uses (gzip told by its magic bytes, records split and parsed as they arrive), so no object
//! is ever held in memory whole. What comes out is a parsed batch of the object's records
//! that also carries the object itself ([`ObjectRead`]): storing it records the object as
//! read in the same transaction.

use std::io::{self, Read};
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::ingest::files::decode;
use crate::ingest::{BatchBuilder, ObjectRead, ParsedBatch, PricingContext, read_stream};

/// Body chunks buffered between the download and the parser (each up to the SDK's read size,
/// a few KB to 64 KB): enough to keep both busy, small enough that memory stays flat.
const CHUNKS_IN_FLIGHT: usize = 8;

/// An object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectToRead {
    pub bucket: String,
    pub key: String,
    /// The ETag the listing or the notification gave, if any (the one read is recorded).
    pub etag: Option<String>,
    /// The object's delivery prefix, which its records are stored under.
    pub source: Arc<str>,
}

/// Why an object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// Deleted (or never there): nothing to read.
    #[error("s3://{bucket}/{key} does not exist (NoSuchKey)")]
    Missing { bucket: String, key: String },
    /// Permissions: s3:GetObject, or kms:Decrypt for an SSE-KMS bucket.
    #[error(
        "s3://{bucket}/{key}: access denied ({message}); the role needs s3:GetObject on the prefix, and kms:Decrypt on the bucket's key when it uses SSE-KMS"
    )]
    Denied {
        bucket: String,
        key: String,
        message: String,
    },
    /// Anything else (throttling and 5xx after the SDK's retries, a connection lost while
    /// reading): worth trying again later.
    #[error("s3://{bucket}/{key}: {message}")]
    Failed {
        bucket: String,
        key: String,
        message: String,
    },
}

/// Fetches an object and parses its records with `context`. A body that is damaged part way
/// (a corrupt gzip stream) is not an error: the records before the damage are kept and the
/// rest is quarantined, as `import` does, and the object counts as read.
pub async fn read_object(
    client: &Client,
    object: &ObjectToRead,
    context: &PricingContext,
) -> Result<ParsedBatch, ObjectError> {
    let response = client
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .send()
        .await
        .map_err(|error| classify_get_error(object, error))?;
    let etag = response
        .e_tag()
        .or(object.etag.as_deref())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let size = response.content_length().unwrap_or(0);

    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let parsing = {
        let builder = BatchBuilder::new(Arc::clone(&context.options), Arc::clone(&context.prices));
        let source = Arc::clone(&object.source);
        let key = object.key.clone();
        tokio::task::spawn_blocking(move || parse_body(receiver, builder, &source, &key))
    };
    let download = forward_body(response.body, sender, size).await;
    let parsed = parsing
        .await
        .map_err(|error| failed(object, error.to_string()))?;
    // A download error also ends the parser's stream: report the download's, the cause.
    download.map_err(|message| failed(object, message))?;
    let mut batch = parsed.map_err(|error| failed(object, format!("reading the body: {error}")))?;
    let records = batch.len() as u64;
    batch.objects.push(ObjectRead {
        source: Arc::clone(&object.source),
        key: object.key.clone(),
        etag,
        size,
        records,
    });
    Ok(batch)
}

/// Sends the body's chunks to the parser; an error is sent on too, so the parser stops. A body
/// shorter than its Content-Length is a failed download, never content damage: the object is
/// then read again rather than recorded with records missing.
async fn forward_body(
    mut body: ByteStream,
    sender: mpsc::Sender<io::Result<Bytes>>,
    content_length: i64,
) -> Result<(), String> {
    let mut received = 0i64;
    loop {
        let next = match body.try_next().await {
            Ok(None) if received < content_length => Err(format!(
                "the body ended after {received} of {content_length} bytes"
            )),
            other => other.map_err(|error| error.to_string()),
        };
        match next {
            Ok(Some(chunk)) => {
                received += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
                if sender.send(Ok(chunk)).await.is_err() {
                    // The parser stopped early: content damage it quarantined, or an error
                    // it reports itself.
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(error) => {
                let message = format!("reading the body: {error}");
                let _ = sender.send(Err(io::Error::other(message.clone()))).await;
                return Err(message);
            }
        }
    }
}

/// Parses a body arriving as chunks (on a blocking thread: it is CPU work).
fn parse_body(
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    mut builder: BatchBuilder,
    source: &Arc<str>,
    key: &str,
) -> io::Result<ParsedBatch> {
    let input = decode(ChunkReader {
        receiver,
        current: Bytes::new(),
    })?;
    read_stream(input, source, key, &mut builder, |_| true)?;
    Ok(builder.take())
}

/// A blocking `Read` over chunks sent from an async task.
struct ChunkReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let count = buf.len().min(self.current.len());
        buf[..count].copy_from_slice(&self.current.split_to(count));
        Ok(count)
    }
}

fn failed(object: &ObjectToRead, message: String) -> ObjectError {
    ObjectError::Failed {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        message,
    }
}

fn classify_get_error<R: std::fmt::Debug>(
    object: &ObjectToRead,
    error: aws_sdk_s3::error::SdkError<GetObjectError, R>,
) -> ObjectError {
    let code = error.code().unwrap_or_default().to_string();
    let is_missing = matches!(
        error.as_service_error(),
        Some(service) if service.is_no_such_key()
    ) || code == "NoSuchKey"
        || code == "NotFound";
    if is_missing {
        return ObjectError::Missing {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
        };
    }
    let message = match crate::sources::SourceError::aws("GetObject", error) {
        crate::sources::SourceError::Aws { message, .. } => message,
        other => other.to_string(),
    };
    if code == "AccessDenied" || code.starts_with("KMS") {
        return ObjectError::Denied {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            message,
        };
    }
    failed(object, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunk_reader_reads_chunks_in_order_and_ends_with_the_channel() {
        let (sender, receiver) = mpsc::channel(4);
        sender.try_send(Ok(Bytes::from_static(b"hello "))).unwrap();
        sender.try_send(Ok(Bytes::from_static(b"world"))).unwrap();
        drop(sender);
        let mut reader = ChunkReader {
            receiver,
            current: Bytes::new(),
        };
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello world");
    }

    #[test]
    fn the_chunk_reader_passes_a_download_error_on() {
        let (sender, receiver) = mpsc::channel(4);
        sender.try_send(Ok(Bytes::from_static(b"partial"))).unwrap();
        sender.try_send(Err(io::Error::other("reset"))).unwrap();
        let mut reader = ChunkReader {
            receiver,
            current: Bytes::new(),
        };
        let mut text = String::new();
        let error = reader.read_to_string(&mut text).unwrap_err();
        assert_eq!(error.to_string(), "reset");
    }
}
