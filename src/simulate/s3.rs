//! Writes simulated records the way Bedrock delivers invocation logs to S3:
//! `<root>/<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/
//! <YYYYMMDDTHHMMSSmmmZ>_<16 hex>.json.gz`, each file a gzip of JSON lines, one file per
//! (account, region, hour) batch. Offloaded request bodies go to `.../HH/data/<requestId>_input.json.gz`,
//! as Bedrock puts them, so a scanner has to skip `data/`.
//!
//! Memory stays bounded for any number of records: a batch is compressed as it fills, and it
//! is written out when it reaches `records_per_file`, when a record for a later hour arrives
//! (time has moved past it), or when too many batches are open at once.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::clock::{MS_PER_HOUR, UtcTime};
use super::{DEFAULT_PREFIX, SimulatedRecord, Truth};

/// The most batches kept open at once; beyond it the least recently used one is written out.
/// Records in time order never get near it (one batch per account and region is open).
pub const MAX_OPEN_BATCHES: usize = 64;

/// Lines are handed to a batch's compressor in chunks of about this size rather than one by
/// one: flate2 does a fixed amount of work per write call, and chunking measured 10–25% faster.
const COMPRESS_CHUNK_BYTES: usize = 64 * 1024;

/// Delivery delay between a batch's last record and the time in its file name, at most.
const MAX_DELIVERY_DELAY_MS: i64 = 90_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3LayoutOptions {
    /// Key prefix under the root, e.g. `bedrock-logs`.
    pub prefix: String,
    /// Records per file at most (Bedrock writes batches; 1000 keeps files around 2 MB).
    pub records_per_file: usize,
    /// gzip level 0–9.
    pub gzip_level: u32,
}

impl Default for S3LayoutOptions {
    fn default() -> Self {
        S3LayoutOptions {
            prefix: DEFAULT_PREFIX.to_string(),
            records_per_file: 1_000,
            gzip_level: 6,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayoutSummary {
    /// Record files written (`*.json.gz` outside `data/`).
    pub files: u64,
    pub records: u64,
    /// Bytes of JSON lines, newlines included.
    pub uncompressed_bytes: u64,
    /// Bytes of the record files on disk.
    pub compressed_bytes: u64,
    /// Offloaded request bodies written under `data/`.
    pub data_objects: u64,
    /// The most batches that were open at once (bounded by [`MAX_OPEN_BATCHES`]).
    pub peak_open_batches: usize,
}

/// Writes every record of `records` under `root` (see the module docs for the layout).
pub fn write_s3_layout(
    records: impl Iterator<Item = SimulatedRecord>,
    root: &Path,
    options: &S3LayoutOptions,
) -> io::Result<LayoutSummary> {
    let mut writer = S3LayoutWriter::new(root, options)?;
    for record in records {
        writer.add(&record)?;
    }
    writer.finish()
}

/// The records of one (account, region, hour) on their way into one file.
struct OpenBatch {
    account: String,
    region: String,
    hour_start_ms: i64,
    /// Lines not yet compressed (a little over `COMPRESS_CHUNK_BYTES` at most).
    pending: Vec<u8>,
    encoder: GzEncoder<Vec<u8>>,
    records: usize,
    last_timestamp_ms: i64,
    /// FNV-1a of the batch's key and first line: makes the file name deterministic.
    name_seed: u64,
    last_used: u64,
}

/// The streaming form of [`write_s3_layout`], for callers that want progress between records.
pub struct S3LayoutWriter {
    root: PathBuf,
    options: S3LayoutOptions,
    open: Vec<OpenBatch>,
    latest_hour_ms: i64,
    added: u64,
    summary: LayoutSummary,
}

impl S3LayoutWriter {
    pub fn new(root: &Path, options: &S3LayoutOptions) -> io::Result<S3LayoutWriter> {
        if options.records_per_file == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "records_per_file must be at least 1",
            ));
        }
        check_path_component("prefix", &options.prefix, true)?;
        Ok(S3LayoutWriter {
            root: root.to_path_buf(),
            options: options.clone(),
            open: Vec::new(),
            latest_hour_ms: i64::MIN,
            added: 0,
            summary: LayoutSummary::default(),
        })
    }

    pub fn add(&mut self, record: &SimulatedRecord) -> io::Result<()> {
        self.added += 1;
        let hour_start_ms = record.timestamp_ms.div_euclid(MS_PER_HOUR) * MS_PER_HOUR;
        if hour_start_ms > self.latest_hour_ms {
            self.latest_hour_ms = hour_start_ms;
            self.close_batches_before(hour_start_ms)?;
        }

        let slot = self.batch_for(record, hour_start_ms)?;
        let batch = &mut self.open[slot];
        batch.pending.extend_from_slice(record.line.as_bytes());
        batch.pending.push(b'\n');
        if batch.pending.len() >= COMPRESS_CHUNK_BYTES {
            batch.encoder.write_all(&batch.pending)?;
            batch.pending.clear();
        }
        batch.records += 1;
        batch.last_timestamp_ms = batch.last_timestamp_ms.max(record.timestamp_ms);
        batch.last_used = self.added;
        self.summary.records += 1;
        self.summary.uncompressed_bytes += record.line.len() as u64 + 1;
        if batch.records >= self.options.records_per_file {
            self.close_batch(slot)?;
        }

        if let (Some(body), Truth::Good(expected)) = (&record.offloaded_input, &record.truth) {
            self.write_data_object(record, &expected.request_id, body)?;
        }
        Ok(())
    }

    /// Writes the batches still open and returns the totals.
    pub fn finish(mut self) -> io::Result<LayoutSummary> {
        while !self.open.is_empty() {
            self.close_batch(0)?;
        }
        Ok(self.summary)
    }

    /// The open batch for the record's key, opening one (and closing the least recently used
    /// one if too many are open) when needed.
    fn batch_for(&mut self, record: &SimulatedRecord, hour_start_ms: i64) -> io::Result<usize> {
        let found = self.open.iter().position(|batch| {
            batch.hour_start_ms == hour_start_ms
                && batch.account == record.account_id
                && batch.region == record.region
        });
        if let Some(slot) = found {
            return Ok(slot);
        }
        check_path_component("account id", &record.account_id, false)?;
        check_path_component("region", &record.region, false)?;
        if self.open.len() >= MAX_OPEN_BATCHES {
            let oldest = self
                .open
                .iter()
                .enumerate()
                .min_by_key(|(_, batch)| batch.last_used)
                .map_or(0, |(slot, _)| slot);
            self.close_batch(oldest)?;
        }
        let name_seed = fnv1a(&[
            record.account_id.as_bytes(),
            record.region.as_bytes(),
            &hour_start_ms.to_le_bytes(),
            record.line.as_bytes(),
        ]);
        self.open.push(OpenBatch {
            account: record.account_id.clone(),
            region: record.region.clone(),
            hour_start_ms,
            pending: Vec::with_capacity(COMPRESS_CHUNK_BYTES + 16 * 1024),
            encoder: GzEncoder::new(Vec::new(), Compression::new(self.options.gzip_level.min(9))),
            records: 0,
            last_timestamp_ms: record.timestamp_ms,
            name_seed,
            last_used: self.added,
        });
        self.summary.peak_open_batches = self.summary.peak_open_batches.max(self.open.len());
        Ok(self.open.len() - 1)
    }

    fn close_batches_before(&mut self, hour_start_ms: i64) -> io::Result<()> {
        while let Some(slot) = self
            .open
            .iter()
            .position(|batch| batch.hour_start_ms < hour_start_ms)
        {
            self.close_batch(slot)?;
        }
        Ok(())
    }

    fn close_batch(&mut self, slot: usize) -> io::Result<()> {
        let mut batch = self.open.swap_remove(slot);
        batch.encoder.write_all(&batch.pending)?;
        let compressed = batch.encoder.finish()?;
        let file_seed = splitmix64(batch.name_seed ^ self.summary.files);
        // Bedrock names a file by when it delivered it: shortly after the last record, within
        // the same hour folder.
        let delay = (file_seed % MAX_DELIVERY_DELAY_MS as u64) as i64;
        let last_ms_of_hour = batch.hour_start_ms.saturating_add(MS_PER_HOUR - 1);
        let delivered_ms = batch
            .last_timestamp_ms
            .saturating_add(delay)
            .min(last_ms_of_hour);
        let file_name = format!(
            "{}_{:016x}.json.gz",
            UtcTime::from_ms(delivered_ms).compact_stamp(),
            splitmix64(file_seed)
        );
        let folder = self.hour_folder(&batch.account, &batch.region, batch.hour_start_ms);
        fs::create_dir_all(&folder)?;
        fs::write(folder.join(file_name), &compressed)?;
        self.summary.files += 1;
        self.summary.compressed_bytes += compressed.len() as u64;
        Ok(())
    }

    fn write_data_object(
        &mut self,
        record: &SimulatedRecord,
        request_id: &str,
        body: &str,
    ) -> io::Result<()> {
        check_path_component("request id", request_id, false)?;
        let hour_start_ms = record.timestamp_ms.div_euclid(MS_PER_HOUR) * MS_PER_HOUR;
        let folder = self
            .hour_folder(&record.account_id, &record.region, hour_start_ms)
            .join("data");
        fs::create_dir_all(&folder)?;
        let mut encoder =
            GzEncoder::new(Vec::new(), Compression::new(self.options.gzip_level.min(9)));
        encoder.write_all(body.as_bytes())?;
        fs::write(
            folder.join(format!("{request_id}_input.json.gz")),
            encoder.finish()?,
        )?;
        self.summary.data_objects += 1;
        Ok(())
    }

    fn hour_folder(&self, account: &str, region: &str, hour_start_ms: i64) -> PathBuf {
        let mut folder = self.root.clone();
        for part in self
            .options
            .prefix
            .split('/')
            .filter(|part| !part.is_empty())
        {
            folder.push(part);
        }
        folder.push("AWSLogs");
        folder.push(account);
        folder.push("BedrockModelInvocationLogs");
        folder.push(region);
        for part in UtcTime::from_ms(hour_start_ms).hour_path().split('/') {
            folder.push(part);
        }
        folder
    }
}

/// Refuses names that would escape the root or nest folders (`..`, `/`, `\`).
fn check_path_component(what: &str, value: &str, slashes_allowed: bool) -> io::Result<()> {
    let bad = value.split('/').any(|part| part == ".." || part == ".")
        || value.contains('\\')
        || (!slashes_allowed && (value.contains('/') || value.is_empty()));
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {value:?} cannot be used as an S3 key part"),
        ));
    }
    Ok(())
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash ^= 0xff;
    }
    hash
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::super::{SimulationSpec, Simulator};
    use super::*;
    use flate2::read::GzDecoder;
    use std::collections::{BTreeMap, HashMap};
    use std::io::Read;

    fn small_spec(records: u64) -> SimulationSpec {
        let mut spec = SimulationSpec::month(2025, 3, records, 42);
        // Three days, so hours hold enough records to fill some files.
        spec.end_ms = spec.start_ms + 3 * 24 * MS_PER_HOUR;
        spec
    }

    fn read_gz(path: &Path) -> String {
        let mut text = String::new();
        GzDecoder::new(fs::File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    /// Every file under `dir`, relative, sorted.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
            .into_iter()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().is_file())
            .map(|entry| entry.path().strip_prefix(dir).unwrap().to_path_buf())
            .collect();
        files.sort();
        files
    }

    fn expected_folder(record: &SimulatedRecord) -> String {
        format!(
            "bedrock-logs/AWSLogs/{}/BedrockModelInvocationLogs/{}/{}",
            record.account_id,
            record.region,
            UtcTime::from_ms(record.timestamp_ms).hour_path()
        )
    }

    #[test]
    fn writes_bedrock_layout_with_every_line_in_its_hour_folder() {
        let records: Vec<SimulatedRecord> = Simulator::new(&small_spec(6_000)).unwrap().collect();
        let dir = tempfile::tempdir().unwrap();
        let options = S3LayoutOptions {
            records_per_file: 100,
            ..S3LayoutOptions::default()
        };
        let summary = write_s3_layout(records.clone().into_iter(), dir.path(), &options).unwrap();
        assert_eq!(summary.records, 6_000);
        let line_bytes: u64 = records.iter().map(|r| r.line.len() as u64 + 1).sum();
        assert_eq!(summary.uncompressed_bytes, line_bytes);
        assert!(summary.compressed_bytes < summary.uncompressed_bytes / 3);

        // What each hour folder should hold, as a multiset of lines.
        let mut wanted: HashMap<String, BTreeMap<&str, usize>> = HashMap::new();
        for record in &records {
            *wanted
                .entry(expected_folder(record))
                .or_default()
                .entry(record.line.as_str())
                .or_default() += 1;
        }
        let mut found: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
        let (mut record_files, mut data_objects, mut compressed) = (0u64, 0u64, 0u64);
        for relative in files_under(dir.path()) {
            let text = relative.to_str().unwrap().replace('\\', "/");
            let (folder, name) = text.rsplit_once('/').unwrap();
            if let Some(hour_folder) = folder.strip_suffix("/data") {
                assert!(name.ends_with("_input.json.gz"), "{name}");
                assert!(wanted.contains_key(hour_folder));
                let body: serde_json::Value =
                    serde_json::from_str(&read_gz(&dir.path().join(&relative))).unwrap();
                assert!(body.is_object());
                data_objects += 1;
                continue;
            }
            // <YYYYMMDDTHHMMSSmmmZ>_<16 hex>.json.gz, stamped within the folder's hour.
            let stem = name.strip_suffix(".json.gz").unwrap();
            let (stamp, hex) = stem.split_once('_').unwrap();
            assert_eq!(stamp.len(), 19, "{name}");
            assert_eq!(&stamp[8..9], "T");
            assert!(stamp.ends_with('Z'));
            assert_eq!(hex.len(), 16);
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            let hour_in_folder = folder.rsplitn(5, '/').take(4).collect::<Vec<_>>();
            let folder_stamp = format!(
                "{}{}{}T{}",
                hour_in_folder[3], hour_in_folder[2], hour_in_folder[1], hour_in_folder[0]
            );
            assert_eq!(&stamp[..11], folder_stamp);

            let path = dir.path().join(&relative);
            compressed += fs::metadata(&path).unwrap().len();
            let content = read_gz(&path);
            assert!(content.ends_with('\n'));
            let lines: Vec<&str> = content.lines().collect();
            assert!(!lines.is_empty() && lines.len() <= 100, "{}", lines.len());
            for line in lines {
                *found
                    .entry(folder.to_string())
                    .or_default()
                    .entry(line.to_string())
                    .or_default() += 1;
            }
            record_files += 1;
        }
        assert_eq!(record_files, summary.files);
        assert_eq!(compressed, summary.compressed_bytes);
        assert_eq!(data_objects, summary.data_objects);
        let offloaded = records
            .iter()
            .filter(|r| r.offloaded_input.is_some())
            .count();
        assert!(offloaded > 0);
        assert_eq!(data_objects, offloaded as u64);
        assert_eq!(found.len(), wanted.len());
        for (folder, lines) in &wanted {
            let got = &found[folder];
            assert_eq!(got.len(), lines.len(), "{folder}");
            for (line, count) in lines {
                assert_eq!(got.get(*line), Some(count), "{folder}");
            }
        }
    }

    #[test]
    fn output_is_deterministic() {
        let spec = small_spec(1_500);
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let options = S3LayoutOptions::default();
        write_s3_layout(Simulator::new(&spec).unwrap(), first.path(), &options).unwrap();
        write_s3_layout(Simulator::new(&spec).unwrap(), second.path(), &options).unwrap();
        let names = files_under(first.path());
        assert_eq!(names, files_under(second.path()));
        for name in &names {
            assert_eq!(
                fs::read(first.path().join(name)).unwrap(),
                fs::read(second.path().join(name)).unwrap()
            );
        }
    }

    #[test]
    fn open_batches_stay_bounded() {
        // In time order: one batch per (account, region) at most.
        let spec = small_spec(3_000);
        let dir = tempfile::tempdir().unwrap();
        let summary = write_s3_layout(
            Simulator::new(&spec).unwrap(),
            dir.path(),
            &S3LayoutOptions::default(),
        )
        .unwrap();
        assert!(summary.peak_open_batches <= spec.accounts.len() * spec.regions.len());

        // Out of order across many hours and accounts: capped, and nothing is lost.
        let base = Simulator::new(&small_spec(1)).unwrap().next().unwrap();
        let scrambled = (0..5_000u64).map(move |i| SimulatedRecord {
            timestamp_ms: base.timestamp_ms + ((i * 7_919) % 200) as i64 * MS_PER_HOUR,
            account_id: format!("{:012}", i % 3),
            ..base.clone()
        });
        let dir = tempfile::tempdir().unwrap();
        let options = S3LayoutOptions {
            records_per_file: 50,
            ..S3LayoutOptions::default()
        };
        let summary = write_s3_layout(scrambled, dir.path(), &options).unwrap();
        assert_eq!(summary.peak_open_batches, MAX_OPEN_BATCHES);
        assert_eq!(summary.records, 5_000);
        let lines: usize = files_under(dir.path())
            .iter()
            .map(|file| read_gz(&dir.path().join(file)).lines().count())
            .sum();
        assert_eq!(lines, 5_000);
    }

    #[test]
    fn rejects_unusable_options_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let zero = S3LayoutOptions {
            records_per_file: 0,
            ..S3LayoutOptions::default()
        };
        let error = write_s3_layout(std::iter::empty(), dir.path(), &zero).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);

        let mut record = Simulator::new(&small_spec(1)).unwrap().next().unwrap();
        record.account_id = "../escape".to_string();
        let error = write_s3_layout(
            std::iter::once(record),
            dir.path(),
            &S3LayoutOptions::default(),
        )
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(files_under(dir.path()).is_empty());
    }

    /// Layout writing speed (generation + gzip + files) in release builds. Run with
    /// `cargo test --release --lib simulate::s3::tests::layout_speed -- --ignored --nocapture`;
    /// with `TMPDIR=/dev/shm` the disk is left out of the measurement.
    #[test]
    #[ignore = "timing: run in release"]
    fn layout_speed() {
        let spec = SimulationSpec::month(2025, 3, 100_000, 1);
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let level: u32 = std::env::var("GZ").map(|v| v.parse().unwrap()).unwrap_or(6);
        let options = S3LayoutOptions {
            gzip_level: level,
            ..S3LayoutOptions::default()
        };
        let summary =
            write_s3_layout(Simulator::new(&spec).unwrap(), dir.path(), &options).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{} records, {} files, {:.1} MB JSON -> {:.1} MB gzip in {seconds:.2} s: {:.1} MB/s of JSON",
            summary.records,
            summary.files,
            summary.uncompressed_bytes as f64 / 1e6,
            summary.compressed_bytes as f64 / 1e6,
            summary.uncompressed_bytes as f64 / 1e6 / seconds
        );
        assert_eq!(summary.records, 100_000);
    }
}
