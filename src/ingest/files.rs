//! Which files to read, and opening them (plain or gzip, decided by content).
//!
//! Bedrock's S3 delivery writes batches of records as
//! `.../BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<timestamp>_<hex>.json.gz`, and puts
//! large request/response bodies and media beside them under `.../HH/data/`
//! (`<requestId>_input.json.gz`, `<requestId>_output.json.gz`, `<requestId>_input_media_00.pdf`).
//! Those body objects have another schema: a directory walk skips them and says so.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;
use walkdir::WalkDir;

/// Bytes read from a file at a time.
const READ_BUFFER_BYTES: usize = 256 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Extensions of files a directory walk takes (each also with `.gz` after it).
const LOG_EXTENSIONS: [&str; 5] = ["json", "jsonl", "ndjson", "log", "txt"];

/// A file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    /// Size on disk (compressed size for `.gz`), for progress.
    pub size: u64,
}

/// Why a directory walk left a file out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A request/response body or media object Bedrock offloaded to S3, not a log record file.
    BodyObject,
    /// An extension that log files don't have.
    NotALogFile,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::BodyObject => "body_object",
            SkipReason::NotALogFile => "not_a_log_file",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::BodyObject => "a body or media object offloaded by Bedrock",
            SkipReason::NotALogFile => "not a log file (extension)",
        })
    }
}

/// The files found under the given paths, and the ones left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub files: Vec<InputFile>,
    /// Files left out for another reason than being a body object, each named in the summary.
    pub skipped: Vec<(PathBuf, SkipReason)>,
    /// Body and media objects Bedrock offloaded next to the logs, counted only: an S3 year can
    /// hold millions of them, and their paths are of no use.
    pub body_objects: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("input path {path} cannot be read: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot walk {path}: {source}")]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
}

/// Lists the files to read. Files given explicitly are always taken, whatever their name;
/// directories are walked recursively in name order, taking log files and skipping Bedrock's
/// offloaded body objects and other extensions.
pub fn discover(paths: &[PathBuf]) -> Result<Discovery, DiscoverError> {
    let mut discovery = Discovery::default();
    for path in paths {
        let metadata = fs::metadata(path).map_err(|source| DiscoverError::Unreadable {
            path: path.clone(),
            source,
        })?;
        if metadata.is_dir() {
            walk_directory(path, &mut discovery)?;
        } else {
            // Opening it here reports an unreadable file now, not halfway through an import.
            File::open(path).map_err(|source| DiscoverError::Unreadable {
                path: path.clone(),
                source,
            })?;
            discovery.add_file(path.clone(), metadata.len());
        }
    }
    discovery.drop_repeated_files();
    Ok(discovery)
}

impl Discovery {
    fn add_file(&mut self, mut path: PathBuf, size: u64) {
        // A walk builds each path by pushing a name onto its directory's, which leaves spare
        // room: trimmed, a list of a year of S3 log files (100,000s) holds each path once.
        path.shrink_to_fit();
        self.files.push(InputFile { path, size });
    }

    /// Keeps the first of files reached twice (listed, and inside a listed directory), so
    /// each is read once; in constant time per file, as an S3 month can hold tens of
    /// thousands of files.
    fn drop_repeated_files(&mut self) {
        let mut seen = std::collections::HashSet::with_capacity(self.files.len());
        let first: Vec<bool> = self
            .files
            .iter()
            .map(|file| seen.insert(file.path.as_path()))
            .collect();
        let mut first = first.into_iter();
        self.files.retain(|_| first.next().unwrap_or(true));
    }
}

fn walk_directory(root: &Path, discovery: &mut Discovery) -> Result<(), DiscoverError> {
    let walk = WalkDir::new(root).follow_links(true).sort_by_file_name();
    for entry in walk {
        let entry = entry.map_err(|source| DiscoverError::Walk {
            path: source.path().unwrap_or(root).to_path_buf(),
            source,
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.into_path();
        match skip_reason(&path) {
            Some(SkipReason::BodyObject) => {
                discovery.body_objects += 1;
                continue;
            }
            Some(reason) => {
                discovery.skipped.push((path, reason));
                continue;
            }
            None => {}
        }
        let size = fs::metadata(&path)
            .map_err(|source| DiscoverError::Unreadable {
                path: path.clone(),
                source,
            })?
            .len();
        discovery.add_file(path, size);
    }
    Ok(())
}

/// Why a file met in a directory walk is not read, if it isn't.
fn skip_reason(path: &Path) -> Option<SkipReason> {
    let name = path.file_name()?.to_string_lossy();
    if is_under_hourly_data_directory(path) || is_body_object_name(&name) {
        return Some(SkipReason::BodyObject);
    }
    if !has_log_extension(&name) {
        return Some(SkipReason::NotALogFile);
    }
    None
}

/// `.../HH/data/...`: the S3 layout's directory of offloaded bodies and media. The hour
/// directory before it keeps a user's own `data/` folder of logs from being skipped.
fn is_under_hourly_data_directory(path: &Path) -> bool {
    let directories: Vec<_> = path
        .parent()
        .into_iter()
        .flat_map(Path::components)
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy()),
            _ => None,
        })
        .collect();
    directories.windows(2).any(|pair| {
        let (hour, data) = (&pair[0], &pair[1]);
        data == "data" && hour.len() == 2 && hour.bytes().all(|byte| byte.is_ascii_digit())
    })
}

/// `<requestId>_input.json.gz`, `<requestId>_output.json.gz`,
/// `<requestId>_input_media_NN.<ext>` (request ids are UUIDs).
fn is_body_object_name(name: &str) -> bool {
    let Some((request_id, rest)) = name.split_once('_') else {
        return false;
    };
    if !is_uuid(request_id) {
        return false;
    }
    let rest = rest.to_ascii_lowercase();
    ["input.json", "output.json"]
        .iter()
        .any(|body| rest == *body || rest == format!("{body}.gz"))
        || rest.starts_with("input_media_")
        || rest.starts_with("output_media_")
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups.iter().zip(lengths).all(|(group, length)| {
            group.len() == length && group.bytes().all(|byte| byte.is_ascii_hexdigit())
        })
}

fn has_log_extension(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    match name.rsplit_once('.') {
        Some((stem, extension)) => !stem.is_empty() && LOG_EXTENSIONS.contains(&extension),
        None => false,
    }
}

/// Opens a file for reading, decompressing it when it is gzip (see [`decode`]). When
/// `bytes_read` is given, the number of raw file bytes read is added to it as reading goes on.
pub fn open(path: &Path, bytes_read: Option<Arc<AtomicU64>>) -> io::Result<Box<dyn Read + Send>> {
    let file = File::open(path)?;
    decode(CountingReader {
        inner: file,
        counter: bytes_read,
    })
}

/// A byte stream (a file, an S3 object's body) as its content: decompressed when it is gzip,
/// told by its magic bytes rather than its name; several gzip members in a row are read as
/// one stream.
pub fn decode(input: impl Read + Send + 'static) -> io::Result<Box<dyn Read + Send>> {
    let mut buffered = BufReader::with_capacity(READ_BUFFER_BYTES, input);
    let is_gzip = buffered.fill_buf()?.starts_with(&GZIP_MAGIC);
    if is_gzip {
        Ok(Box::new(MultiGzDecoder::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Adds the bytes read through it to a shared counter (for a progress bar).
struct CountingReader<R> {
    inner: R,
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        if let Some(counter) = &self.counter {
            counter.fetch_add(read as u64, Ordering::Relaxed);
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn write_file(path: &Path, contents: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    fn gzip(contents: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(contents).unwrap();
        encoder.finish().unwrap()
    }

    fn read_to_string(path: &Path) -> String {
        let mut text = String::new();
        open(path, None).unwrap().read_to_string(&mut text).unwrap();
        text
    }

    const REQUEST_ID: &str = "f3ae32b1-ae22-48f1-ba9c-d8075737f52a";

    #[test]
    fn discovery_over_an_s3_like_layout() {
        let root = tempfile::tempdir().unwrap();
        let hour = root
            .path()
            .join("AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/04/20/00");
        let batch_b = hour.join("20260420T001733123Z_9b86bf4994c4ab1c.json.gz");
        let batch_a = hour.join("20260420T000102000Z_0a1b2c3d4e5f6a7b.json.gz");
        let body_in = hour.join(format!("data/{REQUEST_ID}_input.json.gz"));
        let body_out = hour.join(format!("data/{REQUEST_ID}_output.json.gz"));
        let media = hour.join(format!("data/{REQUEST_ID}_input_media_00.pdf"));
        let stray_body = root
            .path()
            .join(format!("copied/{REQUEST_ID}_output.json.gz"));
        let notes = root.path().join("notes.md");
        let local_data = root.path().join("exports/data/records.jsonl");
        let plain_log = root.path().join("exports/cloudwatch.LOG");
        for path in [
            &batch_b,
            &batch_a,
            &body_in,
            &body_out,
            &media,
            &stray_body,
            &notes,
            &local_data,
            &plain_log,
        ] {
            write_file(path, b"{}\n");
        }

        let discovery = discover(&[root.path().to_path_buf()]).unwrap();
        let files: Vec<&Path> = discovery
            .files
            .iter()
            .map(|file| file.path.as_path())
            .collect();
        // Sorted by name at each level: "AWSLogs" < "exports" (uppercase first).
        assert_eq!(
            files,
            [
                batch_a.as_path(),
                batch_b.as_path(),
                plain_log.as_path(),
                local_data.as_path(),
            ]
        );
        assert!(discovery.files.iter().all(|file| file.size == 3));
        // body_in, media, body_out and stray_body.
        assert_eq!(discovery.body_objects, 4);
        assert_eq!(
            discovery.skipped,
            [(notes.clone(), SkipReason::NotALogFile)]
        );

        // Files named explicitly are taken whatever their name; duplicates are read once.
        let explicit = discover(&[notes.clone(), body_in.clone(), notes.clone()]).unwrap();
        let files: Vec<&Path> = explicit
            .files
            .iter()
            .map(|file| file.path.as_path())
            .collect();
        assert_eq!(files, [notes.as_path(), body_in.as_path()]);
        assert!(explicit.skipped.is_empty());
        assert_eq!(explicit.body_objects, 0);
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let missing = root.path().join("nope.json");
        let error = discover(std::slice::from_ref(&missing)).unwrap_err();
        assert!(matches!(&error, DiscoverError::Unreadable { path, .. } if path == &missing));
        assert!(error.to_string().contains("nope.json"), "{error}");
    }

    #[test]
    fn name_rules() {
        for (name, expected) in [
            ("20241120T164851056Z_9b86bf4994c4ab1c.json.gz", None),
            ("records.JSONL", None),
            ("x.ndjson.gz", None),
            ("app.txt", None),
            (".json", Some(SkipReason::NotALogFile)),
            ("archive.tar.gz", Some(SkipReason::NotALogFile)),
            ("my_input.json", None),
            (
                "F3AE32B1-AE22-48F1-BA9C-D8075737F52A_input.json",
                Some(SkipReason::BodyObject),
            ),
            (
                "f3ae32b1-ae22-48f1-ba9c-d8075737f52a_output_media_03.png",
                Some(SkipReason::BodyObject),
            ),
        ] {
            assert_eq!(skip_reason(Path::new(name)), expected, "{name}");
        }
        assert_eq!(SkipReason::BodyObject.as_str(), "body_object");
        assert_eq!(SkipReason::NotALogFile.as_str(), "not_a_log_file");
    }

    #[test]
    fn gzip_and_plain_files_read_the_same_and_count_raw_bytes() {
        let root = tempfile::tempdir().unwrap();
        let text = "{\"a\":1}\n".repeat(10_000);
        // Misleading names: the content decides.
        let plain = root.path().join("plain.json.gz");
        let zipped = root.path().join("zipped.json");
        write_file(&plain, text.as_bytes());
        let compressed = gzip(text.as_bytes());
        write_file(&zipped, &compressed);

        assert_eq!(read_to_string(&plain), text);
        assert_eq!(read_to_string(&zipped), text);

        let counter = Arc::new(AtomicU64::new(0));
        let mut reader = open(&zipped, Some(Arc::clone(&counter))).unwrap();
        io::copy(&mut reader, &mut io::sink()).unwrap();
        assert_eq!(counter.load(Ordering::Relaxed), compressed.len() as u64);
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("batch.json.gz");
        let mut members = gzip(b"{\"a\":1}\n");
        members.extend(gzip(b"{\"b\":2}\n"));
        members.extend(gzip(b"{\"c\":3}\n"));
        write_file(&path, &members);
        assert_eq!(read_to_string(&path), "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    }

    #[test]
    fn empty_and_tiny_files_open() {
        let root = tempfile::tempdir().unwrap();
        let empty = root.path().join("empty.json");
        let one_byte = root.path().join("one.json");
        write_file(&empty, b"");
        write_file(&one_byte, &[0x1f]);
        assert_eq!(read_to_string(&empty), "");
        let mut bytes = Vec::new();
        open(&one_byte, None)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, [0x1f]);
    }
}
