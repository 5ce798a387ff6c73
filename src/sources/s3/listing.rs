//! Listing deliveries: which accounts and regions a bucket holds under its prefix (delimiter
//! listings, as an organisation's central bucket holds many), and the delivery objects of one
//! account and region after a key (ListObjectsV2 `StartAfter`: keys sort in time order).

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};

use super::keys::{KeyKind, S3Uri, classify};
use crate::sources::SourceError;

/// An S3 client for a source: path-style addressing when the endpoint is overridden (local
/// stand-ins and S3-compatible stores want it; AWS itself takes either).
pub fn client(sdk: &aws_config::SdkConfig, endpoint_overridden: bool) -> Client {
    Client::from_conf(config(sdk, endpoint_overridden).build())
}

/// A client as [`client`], whose calls `calls` counts.
pub fn counted_client(
    sdk: &aws_config::SdkConfig,
    endpoint_overridden: bool,
    calls: &crate::sources::CallCounter,
) -> Client {
    Client::from_conf(
        config(sdk, endpoint_overridden)
            .interceptor(calls.clone())
            .build(),
    )
}

fn config(sdk: &aws_config::SdkConfig, endpoint_overridden: bool) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::from(sdk).force_path_style(endpoint_overridden)
}

/// A delivery object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    /// Changes when the object is rewritten: a rewritten object is read again.
    pub etag: String,
    pub size: i64,
    /// The hour folder it was delivered in.
    pub hour: DateTime<Utc>,
}

/// The delivery objects of one account and region, and what else was listed beside them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub objects: Vec<ListedObject>,
    /// Keys that hold no records, counted by why (`body_object`, `permission_check`, …).
    pub skipped: BTreeMap<&'static str, u64>,
    pub pages: usize,
}

/// The (account, region) pairs under the bucket's prefix, narrowed to `accounts` and
/// `regions` when those are not empty, sorted.
pub async fn accounts_and_regions(
    client: &Client,
    uri: &S3Uri,
    accounts: &[String],
    regions: &[String],
) -> Result<Vec<(String, String)>, SourceError> {
    let wanted = |list: &[String], name: &str| list.is_empty() || list.iter().any(|w| w == name);
    let mut pairs = Vec::new();
    for account in folders(client, &uri.bucket, &uri.accounts_prefix()).await? {
        if !wanted(accounts, &account) {
            continue;
        }
        for region in folders(client, &uri.bucket, &uri.regions_prefix(&account)).await? {
            if wanted(regions, &region) {
                pairs.push((account.clone(), region));
            }
        }
    }
    pairs.sort();
    Ok(pairs)
}

/// The names of the folders directly under `prefix` (a delimiter listing, all pages).
async fn folders(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|error| SourceError::aws("ListObjectsV2", error))?;
        for common in page.common_prefixes() {
            let name = common
                .prefix()
                .and_then(|folder| folder.strip_prefix(prefix))
                .map(|rest| rest.trim_end_matches('/'));
            if let Some(name) = name.filter(|name| !name.is_empty()) {
                names.push(name.to_string());
            }
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => return Ok(names),
        }
    }
}

/// The delivery objects of `account` and `region` whose keys sort after `start_after`, all
/// pages, in key (time) order; other keys are counted in [`Listing::skipped`].
pub async fn deliveries(
    client: &Client,
    uri: &S3Uri,
    account: &str,
    region: &str,
    start_after: &str,
) -> Result<Listing, SourceError> {
    let mut pages = DeliveryPages::new(client, uri, account, region, start_after);
    let mut listing = Listing::default();
    while let Some(page) = pages.next_page().await? {
        listing.objects.extend(page.objects);
        for (why, count) in page.skipped {
            *listing.skipped.entry(why).or_default() += count;
        }
        listing.pages += 1;
    }
    Ok(listing)
}

/// The delivery objects of one account and region after a key, a page (up to 1,000 keys) at
/// a time, so a backfill over months of objects never holds more than a page.
pub struct DeliveryPages<'a> {
    client: &'a Client,
    uri: &'a S3Uri,
    prefix: String,
    start_after: String,
    token: Option<String>,
    done: bool,
}

impl<'a> DeliveryPages<'a> {
    pub fn new(
        client: &'a Client,
        uri: &'a S3Uri,
        account: &str,
        region: &str,
        start_after: &str,
    ) -> DeliveryPages<'a> {
        DeliveryPages {
            client,
            uri,
            prefix: uri.delivery_prefix(account, region),
            start_after: start_after.to_string(),
            token: None,
            done: false,
        }
    }

    /// The next page (`pages` is 1), or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Listing>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.uri.bucket)
            .prefix(&self.prefix)
            .set_continuation_token(self.token.take());
        if !self.start_after.is_empty() {
            request = request.start_after(&self.start_after);
        }
        let page = request
            .send()
            .await
            .map_err(|error| SourceError::aws("ListObjectsV2", error))?;
        let mut listing = Listing {
            pages: 1,
            ..Listing::default()
        };
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            match classify(self.uri, key) {
                KeyKind::Delivery { hour, .. } => listing.objects.push(ListedObject {
                    key: key.to_string(),
                    etag: object
                        .e_tag()
                        .unwrap_or_default()
                        .trim_matches('"')
                        .to_string(),
                    size: object.size().unwrap_or(0),
                    hour,
                }),
                KeyKind::Skip(why) => *listing.skipped.entry(why.as_str()).or_default() += 1,
            }
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => self.token = Some(next.to_string()),
            _ => self.done = true,
        }
        Ok(Some(listing))
    }
}
