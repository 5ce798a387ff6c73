//! Sending one notification through one channel: a generic webhook (tierwatch's JSON,
//! HMAC-SHA256 signed when a secret is set), a Slack incoming webhook, or email over SMTP.
//!
//! The webhook payload (documented in docs/alerts.md):
//! `{"version": 1, "id": 42, "notice": "firing", "rule": "...", "kind": "priority_spend",
//! "severity": "critical", "instance": "", "period": "2025-12", "value": 512.3,
//! "threshold": 500.0, "summary": "...", "link": "https://…", "at": "2025-12-20T10:00:00Z"}`
//! with headers `X-Tierwatch-Event: 42` (an idempotency key) and, with a secret,
//! `X-Tierwatch-Signature: t=UNIX,v1=HEX`, HEX being HMAC-SHA256(secret, "UNIX.BODY").

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use sha2::Sha256;

use crate::config::{ChannelConfig, ChannelKind, EmailConfig, SmtpSecurity};
use crate::store::alerts::AlertEvent;

/// Longest a single send may take before it counts as failed (and is retried later).
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// A file to attach to email (scheduled reports); webhooks get the link instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub name: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{channel}: HTTP {status} from the receiver: {body}")]
    Status {
        channel: String,
        status: u16,
        body: String,
    },
    #[error("{channel}: {source}")]
    Http {
        channel: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{channel}: {message}")]
    Email {
        channel: String,
        message: String,
        /// The server refused for good (an SMTP 5xx answer): retrying won't help.
        permanent: bool,
    },
    #[error("{channel}: no answer within {SEND_TIMEOUT:?}")]
    Timeout { channel: String },
}

impl SendError {
    /// Whether a retry cannot succeed: the receiver rejected the request itself (HTTP 4xx
    /// other than 408 and 429, an SMTP 5xx) or the message could not be built. Network
    /// errors, timeouts, 5xx answers and throttling are worth retrying.
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Status { status, .. } => {
                (400..500).contains(status) && *status != 408 && *status != 429
            }
            SendError::Email { permanent, .. } => *permanent,
            SendError::Http { .. } | SendError::Timeout { .. } => false,
        }
    }
}

/// The webhook payload.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    pub version: u32,
    pub id: i64,
    pub notice: &'a str,
    pub rule: &'a str,
    pub kind: &'a str,
    pub severity: &'a str,
    pub instance: &'a str,
    pub period: &'a str,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub summary: String,
    pub link: &'a str,
    pub at: String,
}

impl<'a> Payload<'a> {
    pub fn of(event: &'a AlertEvent) -> Payload<'a> {
        Payload {
            version: 1,
            id: event.id,
            notice: &event.notice,
            rule: &event.rule,
            kind: &event.kind,
            severity: &event.severity,
            instance: &event.instance,
            period: &event.period,
            value: event.value.filter(|value| value.is_finite()),
            threshold: event.threshold.filter(|value| value.is_finite()),
            summary: summary(event),
            link: &event.link,
            at: crate::dashboard::scope::rfc3339(event.at_ms.div_euclid(1000)),
        }
    }
}

/// One line a person reads: "[FIRING critical] priority-budget: $512.30 spent of a $500.00
/// budget (2025-12)".
pub fn summary(event: &AlertEvent) -> String {
    let status = match event.notice.as_str() {
        "firing" => "FIRING",
        "repeat" => "STILL FIRING",
        "resolved" => "RESOLVED",
        "test" => "TEST",
        "report" => "REPORT",
        other => other,
    };
    let instance = if event.instance.is_empty() {
        String::new()
    } else {
        format!(" [{}]", event.instance)
    };
    let period = if event.period == "rolling" || event.period.is_empty() {
        String::new()
    } else {
        format!(" ({})", event.period)
    };
    format!(
        "[{status} {}] {}{instance}: {}{period}",
        event.severity, event.rule, event.shown
    )
}

/// Sends `event` through `channel`.
pub async fn send(
    client: &reqwest::Client,
    channel: &ChannelConfig,
    event: &AlertEvent,
    attachments: &[ReportFile],
) -> Result<(), SendError> {
    let sending = async {
        match &channel.kind {
            ChannelKind::Webhook { url, secret } => {
                webhook(client, &channel.name, url, secret.as_deref(), event).await
            }
            ChannelKind::Slack { url } => slack(client, &channel.name, url, event).await,
            ChannelKind::Email(email) => send_email(&channel.name, email, event, attachments).await,
        }
    };
    tokio::time::timeout(SEND_TIMEOUT, sending)
        .await
        .map_err(|_| SendError::Timeout {
            channel: channel.name.clone(),
        })?
}

/// `t=UNIX,v1=HEX` where HEX = HMAC-SHA256(secret, "UNIX.BODY").
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={timestamp},v1={}",
        hmac_sha256_hex(secret.as_bytes(), &signed)
    )
}

/// HMAC-SHA256 as lowercase hex.
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(data);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn webhook(
    client: &reqwest::Client,
    name: &str,
    url: &str,
    secret: Option<&str>,
    event: &AlertEvent,
) -> Result<(), SendError> {
    let body = serde_json::to_vec(&Payload::of(event)).unwrap_or_default();
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-tierwatch-event", event.id.to_string());
    if let Some(secret) = secret {
        let now = chrono::Utc::now().timestamp();
        request = request.header("x-tierwatch-signature", signature(secret, now, &body));
    }
    post(name, request.body(body)).await
}

async fn slack(
    client: &reqwest::Client,
    name: &str,
    url: &str,
    event: &AlertEvent,
) -> Result<(), SendError> {
    let emoji = match (event.notice.as_str(), event.severity.as_str()) {
        ("resolved", _) => ":white_check_mark:",
        (_, "critical") => ":rotating_light:",
        ("report", _) | ("test", _) => ":page_facing_up:",
        _ => ":warning:",
    };
    let link = if event.link.starts_with("http") {
        format!(" <{}|open in tierwatch>", event.link)
    } else {
        String::new()
    };
    let body = serde_json::json!({ "text": format!("{emoji} {}{link}", summary(event)) });
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    post(name, request).await
}

async fn post(name: &str, request: reqwest::RequestBuilder) -> Result<(), SendError> {
    let response = request.send().await.map_err(|source| SendError::Http {
        channel: name.to_string(),
        source,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(SendError::Status {
        channel: name.to_string(),
        status: status.as_u16(),
        body: body.chars().take(200).collect(),
    })
}

async fn send_email(
    name: &str,
    email: &EmailConfig,
    event: &AlertEvent,
    attachments: &[ReportFile],
) -> Result<(), SendError> {
    let fail = |message: String, permanent: bool| SendError::Email {
        channel: name.to_string(),
        message,
        permanent,
    };
    // A message that cannot be built, or settings that cannot work, won't get better.
    let message = email_message(email, event, attachments).map_err(|error| fail(error, true))?;
    let transport = smtp_transport(email).map_err(|error| fail(error, true))?;
    transport.send(message).await.map_err(|error| {
        fail(
            format!("sending through {}:{}: {error}", email.host, email.port),
            error.is_permanent(),
        )
    })?;
    Ok(())
}

fn email_message(
    email: &EmailConfig,
    event: &AlertEvent,
    attachments: &[ReportFile],
) -> Result<Message, String> {
    let mailbox = |text: &str| {
        text.parse::<Mailbox>()
            .map_err(|error| format!("{text:?} is not an email address: {error}"))
    };
    let mut builder = Message::builder()
        .from(mailbox(&email.from)?)
        .subject(summary(event));
    for to in &email.to {
        builder = builder.to(mailbox(to)?);
    }
    let mut text = format!("{}\n", summary(event));
    if !event.link.is_empty() {
        text.push_str(&format!("\n{}\n", event.link));
    }
    text.push_str(&format!(
        "\nrule: {}\nkind: {}\nseverity: {}\nperiod: {}\nevent id: {}\n",
        event.rule, event.kind, event.severity, event.period, event.id
    ));
    let body = SinglePart::plain(text);
    let message = if attachments.is_empty() {
        builder.singlepart(body)
    } else {
        let mut parts = MultiPart::mixed().singlepart(body);
        for file in attachments {
            let content_type = ContentType::parse(file.content_type)
                .map_err(|error| format!("content type {}: {error}", file.content_type))?;
            // Base64 whatever the content: report lines can pass SMTP's 998-character limit.
            let body = Body::new_with_encoding(file.body.clone(), ContentTransferEncoding::Base64)
                .map_err(|_| format!("encoding {} for email", file.name))?;
            parts = parts.singlepart(Attachment::new(file.name.clone()).body(body, content_type));
        }
        builder.multipart(parts)
    };
    message.map_err(|error| format!("building the message: {error}"))
}

fn smtp_transport(email: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut tls = TlsParameters::builder(email.host.clone());
    if let Some(path) = &email.ca_file {
        let pem = std::fs::read(path)
            .map_err(|error| format!("reading smtp_ca_file {}: {error}", path.display()))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|error| format!("smtp_ca_file {}: {error}", path.display()))?;
        tls = tls.add_root_certificate(certificate);
    }
    let tls = tls
        .build()
        .map_err(|error| format!("TLS settings for {}: {error}", email.host))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.host)
        .port(email.port)
        .timeout(Some(SEND_TIMEOUT))
        .tls(match email.security {
            SmtpSecurity::StartTls => Tls::Required(tls),
            SmtpSecurity::Tls => Tls::Wrapper(tls),
            SmtpSecurity::None => Tls::None,
        });
    if let (Some(user), Some(password)) = (&email.username, &email.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AlertEvent {
        AlertEvent {
            id: 7,
            alert_key: "k".into(),
            rule: "priority-budget".into(),
            kind: "priority_spend".into(),
            instance: String::new(),
            severity: "critical".into(),
            period: "2025-12".into(),
            notice: "firing".into(),
            value: Some(512.3),
            threshold: Some(500.0),
            shown: "$512.300000 spent of a $500.000000 budget".into(),
            link: "http://127.0.0.1:8080/?month=2025-12".into(),
            at_ms: 1_766_224_800_000,
        }
    }

    #[test]
    fn only_refusals_are_permanent() {
        let status = |status| SendError::Status {
            channel: "c".into(),
            status,
            body: String::new(),
        };
        assert!(status(400).is_permanent());
        assert!(status(404).is_permanent());
        assert!(!status(429).is_permanent());
        assert!(!status(408).is_permanent());
        assert!(!status(503).is_permanent());
        assert!(
            !SendError::Timeout {
                channel: "c".into()
            }
            .is_permanent()
        );
    }

    #[test]
    fn summaries_say_what_and_when() {
        assert_eq!(
            summary(&event()),
            "[FIRING critical] priority-budget: $512.300000 spent of a $500.000000 budget (2025-12)"
        );
    }

    #[test]
    fn payloads_are_the_documented_json() {
        let event = event();
        let json = serde_json::to_value(Payload::of(&event)).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["id"], 7);
        assert_eq!(json["notice"], "firing");
        assert_eq!(json["threshold"], 500.0);
        assert_eq!(json["at"], "2025-12-20T10:00:00Z");
    }

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let signed = signature("s3cret", 1_700_000_000, b"{}");
        assert_eq!(
            signed,
            format!(
                "t=1700000000,v1={}",
                hmac_sha256_hex(b"s3cret", b"1700000000.{}")
            )
        );
    }
}
