//! The compact encoding of stored invocations (migration 0011): repeated strings become
//! 4-byte ids of `dictionary` rows, and request ids become 16-byte uuid keys.
//!
//! A batch's strings are resolved to ids once per batch ([`resolve`]): from a cache of ids
//! known to be committed, else created in the batch's transaction. Dictionary rows are never
//! deleted, so a cached id stays valid; new ids are cached only after the commit.

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Result, StoreError, StoredInvocation, WriteTx, rows};
use crate::rollup::FastMap;

/// Past this many cached strings the cache starts over: callers whose role sessions are
/// named per call would otherwise grow it without end. Ids are re-read on demand.
const MAX_CACHED_STRINGS: usize = 50_000;

/// Dictionary ids known to be committed, shared by every writer of a store.
#[derive(Debug, Clone, Default)]
pub(super) struct StringIds {
    known: Arc<Mutex<FastMap<String, i32>>>,
}

impl StringIds {
    /// Caches the ids a committed transaction created.
    pub(super) fn remember(&self, created: Vec<(String, i32)>) {
        if created.is_empty() {
            return;
        }
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() + created.len() > MAX_CACHED_STRINGS {
            known.clear();
        }
        known.extend(created);
    }
}

/// The ids of one batch's strings.
#[derive(Debug, Default)]
pub(crate) struct BatchStrings<'a> {
    ids: FastMap<&'a str, i32>,
}

impl BatchStrings<'_> {
    /// The id of a string the batch resolved.
    pub(super) fn id(&self, value: &str) -> Result<i32> {
        self.ids.get(value).copied().ok_or_else(|| {
            StoreError::Inconsistent(format!("no dictionary id resolved for {value:?}"))
        })
    }

    pub(super) fn optional_id(&self, value: Option<&str>) -> Result<Option<i32>> {
        value.map(|value| self.id(value)).transpose()
    }
}

/// What [`resolve`] found: the batch's ids, and those created in its transaction, to
/// remember once it commits ([`StringIds::remember`]).
pub(super) struct Resolved<'a> {
    pub strings: BatchStrings<'a>,
    created: Vec<(String, i32)>,
}

/// Resolves every dictionary-encoded string of `rows` to its id, creating missing rows in
/// `tx`.
pub(super) async fn resolve<'a, T: WriteTx>(
    tx: &mut T,
    cache: &StringIds,
    rows: impl Iterator<Item = &'a StoredInvocation>,
) -> Result<Resolved<'a>> {
    let values = rows.flat_map(|row| rows::EncodedRow::strings_of(row).into_iter().flatten());
    resolve_strings(tx, cache, values).await
}

/// Resolves `values` to their ids, creating missing rows in `tx`.
pub(super) async fn resolve_strings<'a, T: WriteTx>(
    tx: &mut T,
    cache: &StringIds,
    values: impl Iterator<Item = &'a str>,
) -> Result<Resolved<'a>> {
    let mut ids: FastMap<&'a str, i32> = FastMap::default();
    let mut missing: Vec<&'a str> = Vec::new();
    {
        let known = cache
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for value in values {
            if ids.contains_key(value) {
                continue;
            }
            match known.get(value) {
                Some(id) => {
                    ids.insert(value, *id);
                }
                None => {
                    // Marked so the value is listed once; replaced below.
                    ids.insert(value, -1);
                    missing.push(value);
                }
            }
        }
    }
    // One order for every writer: concurrent transactions creating the same strings then
    // wait for each other instead of deadlocking.
    missing.sort_unstable();
    let created = if missing.is_empty() {
        Vec::new()
    } else {
        tx.ensure_strings(&missing).await?
    };
    for (value, id) in &created {
        if let Some(slot) = ids.get_mut(value.as_str()) {
            *slot = *id;
        }
    }
    if let Some((value, _)) = ids.iter().find(|(_, id)| **id < 0) {
        return Err(StoreError::Inconsistent(format!(
            "the dictionary returned no id for {value:?}"
        )));
    }
    Ok(Resolved {
        strings: BatchStrings { ids },
        created,
    })
}

impl Resolved<'_> {
    /// The ids created, to remember after the commit ([`StringIds::remember`]).
    pub(super) fn into_created(self) -> Vec<(String, i32)> {
        self.created
    }
}

/// The key a request id is stored under, and the text to keep beside it.
///
/// A canonical uuid (lowercase, hyphenated: what Bedrock writes) is its own key and needs no
/// text. Any other id is keyed by a name-based uuid (version 8: the first 16 bytes of its
/// SHA-256, with version and variant bits set) and keeps its text: version 8 never equals
/// a random (version 4) AWS request id, and two different texts collide only with
/// SHA-256-collision odds.
pub(crate) fn request_key(request_id: &str) -> (Uuid, Option<&str>) {
    if let Ok(uuid) = Uuid::try_parse(request_id)
        && uuid.hyphenated().encode_lower(&mut Uuid::encode_buffer()) == request_id
    {
        return (uuid, None);
    }
    let digest = Sha256::digest(request_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    (
        uuid::Builder::from_custom_bytes(bytes).into_uuid(),
        Some(request_id),
    )
}

#[cfg(test)]
mod tests {
    use super::request_key;

    #[test]
    fn canonical_uuids_are_their_own_key_and_other_ids_keep_their_text() {
        let aws = "0d4b6c2e-4f51-4c3e-9a55-2b8f1f0c7a11";
        let (key, text) = request_key(aws);
        assert_eq!(key.to_string(), aws);
        assert_eq!(text, None);

        // Upper case is not what Bedrock writes: keyed by name so the text round-trips.
        let upper = aws.to_uppercase();
        let (upper_key, text) = request_key(&upper);
        assert_ne!(upper_key, key);
        assert_eq!(text, Some(upper.as_str()));
        assert_eq!(upper_key.get_version_num(), 8);

        let (a, _) = request_key("req-1");
        let (b, _) = request_key("req-2");
        assert_ne!(a, b);
        assert_eq!(a, request_key("req-1").0, "stable");
        assert_eq!(request_key("").1, Some(""));
    }
}
