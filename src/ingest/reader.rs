//! Splits a byte stream into record slices, streaming, with memory bounded by the largest
//! record.
//!
//! Accepted layouts, told apart as the stream is read:
//! - **JSON Lines** (the S3 delivery format): chosen when the first record of the stream fits
//!   on one line and a newline follows it. From then on every line starting with `{` is one
//!   record, found with `memchr` alone, so a truncated line costs exactly that line. (A
//!   pretty-printed record further down such a file is then rejected line by line, never
//!   silently dropped.)
//! - **Concatenated** records, compact or pretty-printed, with any whitespace between (and a
//!   file holding one record). A record ends where the brace depth, counted outside strings,
//!   returns to zero.
//! - A top-level **array** of records: its elements are streamed one by one.
//!
//! Text that is not a record (a slide extract, Markdown fences around a fragment) becomes one
//! [`Item::Rejected`] per run, with reason [`RejectReason::UnexpectedText`]; reading carries on
//! at the next `{`.
//!
//! The reader only finds boundaries: it does not validate JSON, [`super::record::parse_record`]
//! does. It does, however, notice when a record cannot go on: a `{` may only follow `[`, `,`
//! or `:` inside JSON, so a `{` anywhere else inside an open record starts the next record and
//! the open one is rejected as unclosed. A raw newline inside a string (invalid JSON, also
//! after a backslash) resets the string state, so a broken quote cannot swallow the records
//! after it; and an unclosed record ends before the first nested `{` that opened a line, so
//! the first line of a JSON Lines file, cut after a `,`, `:` or `[`, costs only that line.

use std::fmt;
use std::io::{self, Read};
use std::ops::Range;

use memchr::{memchr, memchr2, memchr3};

use super::record::{RejectReason, Rejection};

/// Bytes asked from the underlying reader at a time.
const DEFAULT_CHUNK_BYTES: usize = 256 * 1024;

/// Records larger than this are rejected without being buffered.
const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Rejected items carry at most this many bytes of what was rejected.
const EXCERPT_BYTES: usize = 200;

/// Text previews inside a rejection detail are cut to this many characters.
const PREVIEW_CHARS: usize = 60;

/// How far past a `[` the reader looks for the `{` or `]` that makes it an array of records.
const ARRAY_LOOKAHEAD_BYTES: usize = 4096;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where an item starts in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line of the item's first byte.
    pub line: u64,
    /// 0-based byte offset of the item's first byte.
    pub byte_offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)
    }
}

/// One item of a stream: the bytes of a record to parse, or a stretch that was rejected.
#[derive(Debug)]
pub enum Item<'a> {
    Record {
        bytes: &'a [u8],
        location: Location,
    },
    Rejected {
        /// At most the first 200 bytes of what was rejected.
        excerpt: &'a [u8],
        location: Location,
        rejection: Rejection,
    },
}

/// The layout of the stream, decided by its first complete record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Undecided,
    /// The first record fit on one line: JSON Lines if a newline comes before the next item.
    FirstRecordOnOneLine,
    JsonLines,
    Concatenated,
}

/// What `find_next` found; turned into an [`Item`] borrowing the reader's buffers.
enum Found {
    Record {
        range: Range<usize>,
        location: Location,
    },
    /// The excerpt is in `RecordReader::excerpt`.
    Rejected {
        location: Location,
        rejection: Rejection,
    },
}

/// Splits a byte stream into records. A lending iterator: call [`RecordReader::next_item`]
/// until it returns `None`.
pub struct RecordReader<R> {
    inner: R,
    /// Bytes read and not yet compacted away; `buf[start..end]` is still to be looked at.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    buf_offset: u64,
    /// Line number of `buf[start]`.
    line: u64,
    eof: bool,
    started: bool,
    layout: Layout,
    in_array: bool,
    excerpt: Vec<u8>,
    chunk_bytes: usize,
    max_record_bytes: usize,
}

impl<R: Read> RecordReader<R> {
    pub fn new(inner: R) -> Self {
        RecordReader {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            buf_offset: 0,
            line: 1,
            eof: false,
            started: false,
            layout: Layout::Undecided,
            in_array: false,
            excerpt: Vec::with_capacity(EXCERPT_BYTES),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    /// Records larger than `max` bytes are rejected ([`RejectReason::RecordTooLarge`]) and
    /// skipped without being buffered. Default 64 MiB.
    pub fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max.max(1);
        self
    }

    /// Reads in chunks of `bytes` (tests use tiny chunks to cross chunk boundaries).
    #[cfg(test)]
    fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// The next record or rejected stretch, or `None` at the end of the stream.
    pub fn next_item(&mut self) -> io::Result<Option<Item<'_>>> {
        let found = self.find_next()?;
        Ok(found.map(|found| match found {
            Found::Record { range, location } => Item::Record {
                bytes: &self.buf[range],
                location,
            },
            Found::Rejected {
                location,
                rejection,
            } => Item::Rejected {
                excerpt: &self.excerpt,
                location,
                rejection,
            },
        }))
    }

    fn find_next(&mut self) -> io::Result<Option<Found>> {
        if !self.started {
            self.skip_bom()?;
            self.started = true;
        }
        loop {
            if !self.skip_separators()? {
                return Ok(None);
            }
            let location = self.location();
            let byte = self.buf[self.start];
            let line_mode = self.layout == Layout::JsonLines && !self.in_array;
            if self.in_array && byte == b']' {
                self.consume(1);
                self.in_array = false;
                continue;
            }
            if byte == b'[' && !self.in_array && !line_mode && self.array_starts_here()? {
                self.consume(1);
                self.in_array = true;
                continue;
            }
            let found = match (byte, line_mode) {
                (b'{', true) => self.take_line_record(location)?,
                (b'{', false) => self.take_scanned_record(location)?,
                (_, true) => self.take_text_lines(location)?,
                (_, false) => self.take_text(location)?,
            };
            return Ok(Some(found));
        }
    }

    // ---- the buffer ----

    fn location(&self) -> Location {
        Location {
            line: self.line,
            byte_offset: self.buf_offset + self.start as u64,
        }
    }

    /// Moves past `count` bytes, counting the lines they end.
    fn consume(&mut self, count: usize) {
        let consumed = &self.buf[self.start..self.start + count];
        self.line += memchr::memchr_iter(b'\n', consumed).count() as u64;
        self.start += count;
    }

    /// Reads more bytes after `end`, first moving the unconsumed bytes to the front (and
    /// growing the buffer only when they fill it). Returns false at the end of the stream.
    fn fill_more(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.buf_offset += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only an item still being read fills the buffer, and records past the limit are
            // discarded as they are scanned, so this stays near max_record_bytes + a chunk.
            let limit = self.max_record_bytes.saturating_add(self.chunk_bytes);
            let grown = (self.buf.len() * 2).clamp(self.chunk_bytes, limit.max(self.chunk_bytes));
            let new_len = grown.max(self.buf.len() + self.chunk_bytes);
            self.buf.resize(new_len, 0);
        }
        let read_end = (self.end + self.chunk_bytes).min(self.buf.len());
        loop {
            match self.inner.read(&mut self.buf[self.end..read_end]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(read) => {
                    self.end += read;
                    return Ok(true);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
    }

    /// Makes sure `buf[start..start + count]` is buffered, if the stream has that much.
    fn ensure_buffered(&mut self, count: usize) -> io::Result<bool> {
        while self.end - self.start < count {
            if !self.fill_more()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn skip_bom(&mut self) -> io::Result<()> {
        self.ensure_buffered(UTF8_BOM.len())?;
        if self.buf[self.start..self.end].starts_with(UTF8_BOM) {
            self.start += UTF8_BOM.len();
        }
        Ok(())
    }

    /// Skips whitespace (and commas inside an array). Returns false at the end of the stream.
    /// Also settles the layout once the first one-line record is followed by something.
    fn skip_separators(&mut self) -> io::Result<bool> {
        loop {
            while self.start < self.end {
                match self.buf[self.start] {
                    b'\n' => {
                        if self.layout == Layout::FirstRecordOnOneLine {
                            self.layout = Layout::JsonLines;
                        }
                        self.line += 1;
                    }
                    b' ' | b'\t' | b'\r' => {}
                    b',' if self.in_array => {}
                    _ => {
                        if self.layout == Layout::FirstRecordOnOneLine {
                            self.layout = Layout::Concatenated;
                        }
                        return Ok(true);
                    }
                }
                self.start += 1;
            }
            if !self.fill_more()? {
                return Ok(false);
            }
        }
    }

    /// With `buf[start] == b'['`: does an array of records start here (the next non-blank
    /// byte is `{` or `]`)? A `[` in prose is not taken for one.
    fn array_starts_here(&mut self) -> io::Result<bool> {
        let mut offset = 1;
        while offset <= ARRAY_LOOKAHEAD_BYTES {
            if !self.ensure_buffered(offset + 1)? {
                return Ok(false);
            }
            match self.buf[self.start + offset] {
                b' ' | b'\t' | b'\r' | b'\n' => offset += 1,
                next => return Ok(next == b'{' || next == b']'),
            }
        }
        // Kilobytes of blank after a `[`: reading it as an array is the generous choice.
        Ok(true)
    }

    fn remember_excerpt(&mut self, range: Range<usize>) {
        self.excerpt.clear();
        let end = range.end.min(range.start + EXCERPT_BYTES);
        self.excerpt.extend_from_slice(&self.buf[range.start..end]);
    }

    // ---- records ----

    /// JSON Lines: the record is the rest of the line.
    fn take_line_record(&mut self, location: Location) -> io::Result<Found> {
        let mut searched = 0;
        loop {
            if let Some(position) = memchr(b'\n', &self.buf[self.start + searched..self.end]) {
                let line_bytes = searched + position;
                if line_bytes > self.max_record_bytes {
                    self.remember_excerpt(self.start..self.start + line_bytes);
                    self.consume(line_bytes + 1);
                    return Ok(self.too_large_line(location, line_bytes));
                }
                let range =
                    self.start..self.start + trimmed_len(&self.buf[self.start..][..line_bytes]);
                self.consume(line_bytes + 1);
                return Ok(Found::Record { range, location });
            }
            searched = self.end - self.start;
            if searched > self.max_record_bytes {
                return self.skip_long_line(location);
            }
            if !self.fill_more()? {
                // The last line has no newline.
                let line_bytes = self.end - self.start;
                let range = self.start..self.start + trimmed_len(&self.buf[self.start..self.end]);
                self.consume(line_bytes);
                return Ok(Found::Record { range, location });
            }
        }
    }

    /// Discards a line longer than the limit without buffering it.
    fn skip_long_line(&mut self, location: Location) -> io::Result<Found> {
        self.remember_excerpt(self.start..self.end);
        let mut line_bytes = 0;
        loop {
            let available = &self.buf[self.start..self.end];
            if let Some(position) = memchr(b'\n', available) {
                line_bytes += position;
                self.consume(position + 1);
                break;
            }
            line_bytes += available.len();
            self.consume(available.len());
            if !self.fill_more()? {
                break;
            }
        }
        Ok(self.too_large_line(location, line_bytes))
    }

    fn too_large_line(&self, location: Location, line_bytes: usize) -> Found {
        Found::Rejected {
            location,
            rejection: Rejection::new(
                RejectReason::RecordTooLarge,
                format!(
                    "record of {line_bytes} bytes is larger than the limit of {} bytes; skipped \
                     to the end of its line",
                    self.max_record_bytes
                ),
            ),
        }
    }

    /// Concatenated or array layout: the record ends where the brace depth returns to 0.
    fn take_scanned_record(&mut self, location: Location) -> io::Result<Found> {
        let mut scanner = Scanner::default();
        // Bytes of this record already discarded because it is over the limit.
        let mut discarded = 0;
        let mut too_large = false;
        loop {
            match scanner.scan(&self.buf[self.start..self.end]) {
                ScanStep::Complete(length) => {
                    let record_bytes = discarded + length;
                    if too_large || record_bytes > self.max_record_bytes {
                        if !too_large {
                            self.remember_excerpt(self.start..self.start + length);
                        }
                        self.consume(length);
                        return Ok(self.too_large_record(location, record_bytes, "skipped"));
                    }
                    if self.layout == Layout::Undecided && !self.in_array {
                        self.layout = if scanner.multiline {
                            Layout::Concatenated
                        } else {
                            Layout::FirstRecordOnOneLine
                        };
                    }
                    let range = self.start..self.start + length;
                    self.consume(length);
                    return Ok(Found::Record { range, location });
                }
                ScanStep::NextRecordStartsAt(length) => {
                    if !too_large {
                        // It ends before its first nested `{` that opened a line, if any. (A
                        // too large record's front was dropped: its positions are stale.)
                        let length = scanner.nested_line_start.unwrap_or(length);
                        return Ok(self.unclosed_record(location, length));
                    }
                    self.consume(length);
                    let detail = format!(
                        "record not closed before the next record starts at line {}",
                        self.line
                    );
                    return Ok(Found::Rejected {
                        location,
                        rejection: Rejection::new(RejectReason::RecordTooLarge, detail),
                    });
                }
                ScanStep::NeedMore => {
                    let scanned = scanner.position;
                    if !too_large && discarded + scanned > self.max_record_bytes {
                        too_large = true;
                        self.remember_excerpt(self.start..self.start + scanned);
                    }
                    if too_large {
                        // Keep the scanner's state, drop the bytes it has scanned.
                        self.consume(scanned);
                        discarded += scanned;
                        scanner.position = 0;
                    }
                    if !self.fill_more()? {
                        if !too_large && let Some(line_start) = scanner.nested_line_start {
                            // The lines from there on are read again, as records of their own.
                            return Ok(self.unclosed_record(location, line_start));
                        }
                        let remaining = self.end - self.start;
                        if !too_large {
                            self.remember_excerpt(self.start..self.end);
                        }
                        self.consume(remaining);
                        let record_bytes = discarded + remaining;
                        if too_large {
                            return Ok(self.too_large_record(
                                location,
                                record_bytes,
                                "truncated at end of input",
                            ));
                        }
                        return Ok(Found::Rejected {
                            location,
                            rejection: Rejection::new(
                                RejectReason::InvalidJson,
                                format!(
                                    "truncated record at end of input ({record_bytes} bytes, \
                                     {} object(s) still open)",
                                    scanner.depth
                                ),
                            ),
                        });
                    }
                }
            }
        }
    }

    /// Rejects the first `length` bytes, a record that another starts inside of.
    fn unclosed_record(&mut self, location: Location, length: usize) -> Found {
        self.remember_excerpt(self.start..self.start + length);
        self.consume(length);
        let detail = format!(
            "record not closed before the next record starts at line {}",
            self.line
        );
        Found::Rejected {
            location,
            rejection: Rejection::new(RejectReason::InvalidJson, detail),
        }
    }

    fn too_large_record(&self, location: Location, record_bytes: usize, outcome: &str) -> Found {
        Found::Rejected {
            location,
            rejection: Rejection::new(
                RejectReason::RecordTooLarge,
                format!(
                    "record of {record_bytes} bytes is larger than the limit of {} bytes; {outcome}",
                    self.max_record_bytes
                ),
            ),
        }
    }

    // ---- text that is not a record ----

    /// Concatenated or array layout: text up to the next `{` (or an array's `[`/`]`).
    fn take_text(&mut self, location: Location) -> io::Result<Found> {
        self.excerpt.clear();
        let mut total = 0;
        loop {
            // The run's first byte is text whatever it is; look for a stop after it.
            let from = usize::from(total == 0);
            let available = &self.buf[self.start..self.end];
            let stop = if self.in_array {
                memchr2(b'{', b']', &available[from..])
            } else {
                memchr2(b'{', b'[', &available[from..])
            };
            let Some(stop) = stop.map(|position| from + position) else {
                total += available.len();
                self.keep_text(available.len());
                if !self.fill_more()? {
                    break;
                }
                continue;
            };
            total += stop;
            self.keep_text(stop);
            if self.buf[self.start] == b'[' && !self.array_starts_here()? {
                // A bracket in prose: part of the text.
                total += 1;
                self.keep_text(1);
                continue;
            }
            break;
        }
        Ok(self.text_rejection(location, total))
    }

    /// JSON Lines: the run of lines up to the next line that starts with `{`.
    fn take_text_lines(&mut self, location: Location) -> io::Result<Found> {
        self.excerpt.clear();
        let mut total = 0;
        loop {
            let available = &self.buf[self.start..self.end];
            match memchr(b'\n', available) {
                Some(position) => {
                    total += position + 1;
                    self.keep_text(position + 1);
                }
                None => {
                    total += available.len();
                    self.keep_text(available.len());
                    if !self.fill_more()? {
                        break;
                    }
                    continue;
                }
            }
            match self.first_byte_of_line()? {
                None | Some(b'{') => break,
                Some(_) => {}
            }
        }
        Ok(self.text_rejection(location, total))
    }

    /// At a line start: the line's first byte that is not a space, tab or CR, if any.
    fn first_byte_of_line(&mut self) -> io::Result<Option<u8>> {
        let mut offset = 0;
        loop {
            if !self.ensure_buffered(offset + 1)? {
                return Ok(None);
            }
            match self.buf[self.start + offset] {
                b' ' | b'\t' | b'\r' if offset < ARRAY_LOOKAHEAD_BYTES => offset += 1,
                byte => return Ok(Some(byte)),
            }
        }
    }

    /// Moves past `count` bytes of rejected text, keeping the start of it as the excerpt.
    fn keep_text(&mut self, count: usize) {
        let room = EXCERPT_BYTES - self.excerpt.len();
        let kept = count.min(room);
        self.excerpt
            .extend_from_slice(&self.buf[self.start..self.start + kept]);
        self.consume(count);
    }

    fn text_rejection(&mut self, location: Location, total: usize) -> Found {
        let excerpt_is_whole_text = total == self.excerpt.len();
        let kept = self.excerpt.trim_ascii_end().len();
        self.excerpt.truncate(kept);
        let preview = String::from_utf8_lossy(&self.excerpt);
        let mut cut: String = preview.chars().take(PREVIEW_CHARS).collect();
        if preview.chars().nth(PREVIEW_CHARS).is_some() || !excerpt_is_whole_text {
            cut.push('…');
        }
        Found::Rejected {
            location,
            rejection: Rejection::new(
                RejectReason::UnexpectedText,
                format!("{total} bytes of text that is not a JSON record: {cut:?}"),
            ),
        }
    }
}

/// The length of `line` without trailing whitespace (a CR before the newline, spaces).
fn trimmed_len(line: &[u8]) -> usize {
    line.trim_ascii_end().len()
}

/// What scanning a record's bytes found.
#[derive(Debug, PartialEq, Eq)]
enum ScanStep {
    /// The record is the first `n` bytes.
    Complete(usize),
    /// The record is not closed, and a new one starts after the first `n` bytes.
    NextRecordStartsAt(usize),
    /// All bytes so far belong to the record.
    NeedMore,
}

/// Finds where a record (starting with `{`) ends, resumable across buffer refills.
#[derive(Debug)]
struct Scanner {
    /// Bytes looked at so far, relative to the record's first byte.
    position: usize,
    /// Open braces outside strings.
    depth: u32,
    in_string: bool,
    /// The last byte outside whitespace, for the rule "`{` only after `[`, `,` or `:`".
    last_significant: u8,
    /// The previous byte was a newline (the next one is in column 0).
    at_line_start: bool,
    /// A raw newline inside a string was seen: the record is not valid JSON.
    broken: bool,
    /// The record spans more than one line.
    multiline: bool,
    /// The first `{` taken as a nested value although it opens a line: where the next record
    /// starts if this one turns out unclosed (a JSON Lines line cut after `,`, `:` or `[`
    /// would otherwise take the line after it down with it).
    nested_line_start: Option<usize>,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            position: 0,
            depth: 0,
            in_string: false,
            last_significant: b' ',
            at_line_start: false,
            broken: false,
            multiline: false,
            nested_line_start: None,
        }
    }
}

impl Scanner {
    /// Scans `record` (the record's bytes from its first byte, as far as buffered) from where
    /// the last call stopped.
    fn scan(&mut self, record: &[u8]) -> ScanStep {
        while self.position < record.len() {
            if self.in_string {
                if let Some(step) = self.scan_string(record) {
                    return step;
                }
                continue;
            }
            let byte = record[self.position];
            self.position += 1;
            let was_at_line_start = self.at_line_start;
            self.at_line_start = false;
            match byte {
                b'"' => {
                    self.in_string = true;
                    self.last_significant = b'"';
                }
                b'{' => {
                    let may_nest = matches!(self.last_significant, b'[' | b',' | b':');
                    if self.depth > 0 && (!may_nest || (self.broken && was_at_line_start)) {
                        self.position -= 1;
                        return ScanStep::NextRecordStartsAt(self.position);
                    }
                    if self.depth > 0 && was_at_line_start {
                        self.nested_line_start.get_or_insert(self.position - 1);
                    }
                    self.depth += 1;
                    self.last_significant = b'{';
                }
                b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.last_significant = b'}';
                    if self.depth == 0 {
                        return ScanStep::Complete(self.position);
                    }
                }
                b'\n' => {
                    self.at_line_start = true;
                    self.multiline = true;
                }
                b' ' | b'\t' | b'\r' => {}
                other => self.last_significant = other,
            }
        }
        ScanStep::NeedMore
    }

    /// Inside a string: jumps to its closing quote. Returns a step only when the buffered
    /// bytes end first.
    fn scan_string(&mut self, record: &[u8]) -> Option<ScanStep> {
        let Some(found) = memchr3(b'"', b'\\', b'\n', &record[self.position..]) else {
            self.position = record.len();
            return Some(ScanStep::NeedMore);
        };
        let at = self.position + found;
        match record[at] {
            b'"' => {
                self.in_string = false;
                self.position = at + 1;
            }
            b'\\' => {
                if at + 1 >= record.len() {
                    // Look at the escape again once the byte after it is buffered.
                    self.position = at;
                    return Some(ScanStep::NeedMore);
                }
                if record[at + 1] == b'\n' {
                    // No JSON escape is a backslash and a raw newline: a line cut right after
                    // a backslash. Taking it for an escape would carry the string, and the
                    // record, on into the next line's record.
                    self.break_string_at_newline(at + 1);
                } else {
                    self.position = at + 2;
                }
            }
            // JSON strings cannot hold a raw newline: the quotes are off (a truncated line,
            // curly quotes from a PDF).
            _ => self.break_string_at_newline(at),
        }
        None
    }

    /// A raw newline at `newline` inside a string: the record is broken. Resynchronizes on
    /// the next line, where a `{` starts the next record.
    fn break_string_at_newline(&mut self, newline: usize) {
        self.in_string = false;
        self.broken = true;
        self.multiline = true;
        self.at_line_start = true;
        self.position = newline + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An item as a test sees it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Got {
        Record {
            text: String,
            line: u64,
            offset: u64,
        },
        Rejected {
            reason: RejectReason,
            excerpt: String,
            line: u64,
        },
    }

    fn record(text: &str, line: u64, offset: u64) -> Got {
        Got::Record {
            text: text.to_string(),
            line,
            offset,
        }
    }

    /// A record found at the first occurrence of `text` in `input`.
    fn record_in(input: &str, text: &str, line: u64) -> Got {
        let offset = input.find(text).unwrap() as u64;
        record(text, line, offset)
    }

    fn rejected(reason: RejectReason, excerpt: &str, line: u64) -> Got {
        Got::Rejected {
            reason,
            excerpt: excerpt.to_string(),
            line,
        }
    }

    fn read_all_with(input: &[u8], chunk_bytes: usize, max_record_bytes: usize) -> Vec<Got> {
        let mut reader = RecordReader::new(input)
            .with_chunk_bytes(chunk_bytes)
            .with_max_record_bytes(max_record_bytes);
        let mut items = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            items.push(match item {
                Item::Record { bytes, location } => Got::Record {
                    text: String::from_utf8(bytes.to_vec()).unwrap(),
                    line: location.line,
                    offset: location.byte_offset,
                },
                Item::Rejected {
                    excerpt,
                    location,
                    rejection,
                } => Got::Rejected {
                    reason: rejection.reason,
                    excerpt: String::from_utf8_lossy(excerpt).into_owned(),
                    line: location.line,
                },
            });
        }
        items
    }

    /// Reads `input` with the default chunk size and again with tiny chunks, which must agree.
    fn read_all(input: &str) -> Vec<Got> {
        let whole = read_all_with(
            input.as_bytes(),
            DEFAULT_CHUNK_BYTES,
            DEFAULT_MAX_RECORD_BYTES,
        );
        for chunk_bytes in [1, 2, 3, 5, 8, 13] {
            let chunked = read_all_with(input.as_bytes(), chunk_bytes, DEFAULT_MAX_RECORD_BYTES);
            assert_eq!(chunked, whole, "chunk size {chunk_bytes}");
        }
        whole
    }

    fn rejection_details(input: &str, max_record_bytes: usize) -> Vec<String> {
        let mut reader = RecordReader::new(input.as_bytes())
            .with_chunk_bytes(7)
            .with_max_record_bytes(max_record_bytes);
        let mut details = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            if let Item::Rejected { rejection, .. } = item {
                details.push(rejection.detail);
            }
        }
        details
    }

    #[test]
    fn json_lines() {
        let input = "{\"a\":1}\n{\"b\":\"x\"}\n\n{\"c\":[1,{\"d\":2}]}\n";
        assert_eq!(
            read_all(input),
            [
                record("{\"a\":1}", 1, 0),
                record("{\"b\":\"x\"}", 2, 8),
                record("{\"c\":[1,{\"d\":2}]}", 4, 19),
            ]
        );
    }

    #[test]
    fn concatenated_pretty_records_with_any_whitespace() {
        let first = "{\n  \"a\": {\n    \"b\": 1\n  }\n}";
        let second = "{\n\t\"c\": 2\n}";
        let input = format!("\n  {first}  \n\n{second}{{\"d\":3}}");
        assert_eq!(
            read_all(&input),
            [
                record(first, 2, 3),
                record_in(&input, second, 8),
                record_in(&input, "{\"d\":3}", 10),
            ]
        );
    }

    #[test]
    fn single_record_file_without_trailing_newline() {
        assert_eq!(read_all("{\"a\":1}"), [record("{\"a\":1}", 1, 0)]);
        assert_eq!(read_all(""), []);
        assert_eq!(read_all(" \n\t\r\n"), []);
    }

    #[test]
    fn top_level_array_is_streamed_element_by_element() {
        let input = "[\n  {\"a\": 1},\n  {\"b\": [2, 3]}\n]\n";
        assert_eq!(
            read_all(input),
            [record("{\"a\": 1}", 2, 4), record("{\"b\": [2, 3]}", 3, 16)]
        );
        assert_eq!(read_all("[]"), []);
        assert_eq!(
            read_all("[{\"a\":1}, 5, {\"b\":2}]"),
            [
                record("{\"a\":1}", 1, 1),
                rejected(RejectReason::UnexpectedText, "5,", 1),
                record("{\"b\":2}", 1, 13),
            ]
        );
    }

    #[test]
    fn garbage_between_records_is_one_rejection_per_run() {
        // Concatenated: text runs up to the next `{`; a bracket in prose stays text.
        let input = "Slide 10 [see notes] {\"a\":1} and then {\"b\":2} the end";
        assert_eq!(
            read_all(input),
            [
                rejected(RejectReason::UnexpectedText, "Slide 10 [see notes]", 1),
                record("{\"a\":1}", 1, 21),
                rejected(RejectReason::UnexpectedText, "and then", 1),
                record("{\"b\":2}", 1, 38),
                rejected(RejectReason::UnexpectedText, "the end", 1),
            ]
        );
        // JSON Lines: consecutive lines that are not records make one run.
        let input = "{\"a\":1}\nnot json\n# a comment\n\n{\"b\":2}\ntrailing words";
        assert_eq!(
            read_all(input),
            [
                record("{\"a\":1}", 1, 0),
                rejected(RejectReason::UnexpectedText, "not json\n# a comment", 2),
                record("{\"b\":2}", 5, 30),
                rejected(RejectReason::UnexpectedText, "trailing words", 6),
            ]
        );
        // Markdown fences around pretty fragments.
        let input = "```json\n{\n  \"a\": 1\n}\n```\n";
        assert_eq!(
            read_all(input),
            [
                rejected(RejectReason::UnexpectedText, "```json", 1),
                record("{\n  \"a\": 1\n}", 2, 8),
                rejected(RejectReason::UnexpectedText, "```", 5),
            ]
        );
    }

    #[test]
    fn text_details_preview_the_text_and_excerpts_are_capped() {
        let long_text = "x".repeat(500);
        let input = format!("{long_text}{{\"a\":1}}");
        let items = read_all(&input);
        let Got::Rejected { excerpt, .. } = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(excerpt.len(), EXCERPT_BYTES);
        let details = rejection_details(&input, DEFAULT_MAX_RECORD_BYTES);
        assert_eq!(
            details,
            [format!(
                "500 bytes of text that is not a JSON record: \"{}…\"",
                &long_text[..PREVIEW_CHARS]
            )]
        );
    }

    #[test]
    fn truncated_last_record_is_rejected() {
        let input = "{\n \"a\": 1\n}\n{\n  \"b\": {\"c\": \"unfinished";
        assert_eq!(
            read_all(input),
            [
                record("{\n \"a\": 1\n}", 1, 0),
                rejected(
                    RejectReason::InvalidJson,
                    "{\n  \"b\": {\"c\": \"unfinished",
                    4
                ),
            ]
        );
        // In JSON Lines the cut last line is a record for the parser to reject.
        assert_eq!(
            read_all("{\"a\":1}\n{\"b\":{\"c\":\"unfini"),
            [
                record("{\"a\":1}", 1, 0),
                record("{\"b\":{\"c\":\"unfini", 2, 8)
            ]
        );
        let details = rejection_details("{\n \"b\": {\"c\": 1", DEFAULT_MAX_RECORD_BYTES);
        assert_eq!(
            details,
            ["truncated record at end of input (15 bytes, 2 object(s) still open)"]
        );
    }

    #[test]
    fn truncated_line_in_json_lines_costs_only_that_line() {
        let input = "{\"a\":1}\n{\"b\":\"cut he\n{\"c\":3}\n{\"d\":{\"e\":\n{\"f\":6}\n";
        assert_eq!(
            read_all(input),
            [
                record("{\"a\":1}", 1, 0),
                record("{\"b\":\"cut he", 2, 8),
                record("{\"c\":3}", 3, 21),
                record("{\"d\":{\"e\":", 4, 29),
                record("{\"f\":6}", 5, 40),
            ]
        );
    }

    #[test]
    fn a_first_line_cut_after_a_backslash_costs_only_that_line() {
        // The first record is scanned (the layout is not known yet); a backslash before the
        // newline is no escape of it. Found by the S3 kill test: the simulator cuts bad lines
        // anywhere, and such a first line took the good record after it down with it.
        let input = "{\"a\":\"cut \\\n{\"b\":2}\n{\"c\":3}\n";
        assert_eq!(
            read_all(input),
            [
                rejected(RejectReason::InvalidJson, "{\"a\":\"cut \\\n", 1),
                record("{\"b\":2}", 2, 12),
                record("{\"c\":3}", 3, 20),
            ]
        );
        let pretty = "{\n  \"a\": \"cut \\\n{\n  \"b\": 2\n}\n";
        assert_eq!(
            read_all(pretty),
            [
                rejected(RejectReason::InvalidJson, "{\n  \"a\": \"cut \\\n", 1),
                record_in(pretty, "{\n  \"b\": 2\n}", 3),
            ]
        );
        // A real escape is still one, wherever the buffer ends.
        let escaped = "{\"a\":\"line\\nnext \\\\\"}\n{\"b\":2}\n";
        assert_eq!(
            read_all(escaped),
            [
                record("{\"a\":\"line\\nnext \\\\\"}", 1, 0),
                record("{\"b\":2}", 2, 22),
            ]
        );
    }

    #[test]
    fn a_first_line_cut_after_a_separator_costs_only_that_line() {
        // A `{` may follow `,`, `:` or `[`, so the next line's record looked nested.
        let input = "{\"a\":1,\n{\"b\":2}\n{\"c\":3}\n";
        assert_eq!(
            read_all(input),
            [
                rejected(RejectReason::InvalidJson, "{\"a\":1,\n", 1),
                record("{\"b\":2}", 2, 8),
                record("{\"c\":3}", 3, 16),
            ]
        );
        // At the end of the input, too.
        let input = "{\"a\":[\n{\"b\":2}\n";
        assert_eq!(
            read_all(input),
            [
                rejected(RejectReason::InvalidJson, "{\"a\":[\n", 1),
                record("{\"b\":2}", 2, 7),
            ]
        );
        // A closed record keeps its nested objects, wherever its lines start.
        let pretty = "{\n\"a\": [\n{\"x\": 1},\n{\"y\": 2}\n]\n}\n{\"b\":2}\n";
        assert_eq!(
            read_all(pretty),
            [
                record_in(pretty, "{\n\"a\": [\n{\"x\": 1},\n{\"y\": 2}\n]\n}", 1),
                record_in(pretty, "{\"b\":2}", 7),
            ]
        );
    }

    #[test]
    fn unclosed_pretty_record_does_not_swallow_the_next_one() {
        // Cut inside a string: the raw newline gives it away.
        let input = "{\n  \"a\": \"cut\n{\n  \"b\": 2\n}\n";
        assert_eq!(
            read_all(input),
            [
                rejected(RejectReason::InvalidJson, "{\n  \"a\": \"cut\n", 1),
                record_in(input, "{\n  \"b\": 2\n}", 3),
            ]
        );
        // Cut after a value: a `{` cannot follow a number inside JSON.
        let input = "{\n  \"a\": {\"x\": 1\n}{\"b\":2}";
        let items = read_all(input);
        assert_eq!(
            items.last(),
            Some(&record_in(input, "{\"b\":2}", 3)),
            "{items:?}"
        );
        assert_eq!(
            rejection_details("{\"a\": 1 {\"b\":2}", DEFAULT_MAX_RECORD_BYTES),
            ["record not closed before the next record starts at line 1"]
        );
    }

    #[test]
    fn crlf_and_bom() {
        let input = "\u{feff}{\"a\":1}\r\n{\"b\":2}\r\n";
        assert_eq!(
            read_all(input),
            [record("{\"a\":1}", 1, 3), record("{\"b\":2}", 2, 12)]
        );
        let pretty = "\u{feff}{\r\n  \"a\": 1\r\n}\r\n{\r\n  \"b\": 2\r\n}\r\n";
        assert_eq!(
            read_all(pretty),
            [
                record_in(pretty, "{\r\n  \"a\": 1\r\n}", 1),
                record_in(pretty, "{\r\n  \"b\": 2\r\n}", 4),
            ]
        );
    }

    #[test]
    fn strings_with_braces_and_escaped_quotes() {
        let tricky = r#"{"a":"}{ \"quoted\" [","b":"back\\","c":"\\\"}","d":{"e":"{"}}"#;
        let input = format!("{tricky}\n{{\"z\":0}}\n");
        assert_eq!(
            read_all(&input),
            [
                record(tricky, 1, 0),
                record("{\"z\":0}", 2, tricky.len() as u64 + 1)
            ]
        );
        let pretty = format!("{{\n \"s\": \"a \\\" }} b\"\n}}{tricky}");
        let items = read_all(&pretty);
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], record_in(&pretty, tricky, 3));
    }

    #[test]
    fn record_larger_than_the_limit_is_skipped_without_buffering_it() {
        let huge_value = "x".repeat(200_000);
        let big = format!("{{\"big\":\"{huge_value}\"}}");
        let max = 1000;
        let chunk = 64;

        // JSON Lines.
        let input = format!("{{\"a\":1}}\n{big}\n{{\"b\":2}}\n");
        let mut reader = RecordReader::new(input.as_bytes())
            .with_chunk_bytes(chunk)
            .with_max_record_bytes(max);
        let mut kinds = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            kinds.push(match item {
                Item::Record { bytes, location } => {
                    format!("record {} at {location}", String::from_utf8_lossy(bytes))
                }
                Item::Rejected {
                    rejection, excerpt, ..
                } => {
                    assert_eq!(excerpt, &big.as_bytes()[..EXCERPT_BYTES]);
                    rejection.to_string()
                }
            });
        }
        assert_eq!(
            kinds,
            [
                "record {\"a\":1} at line 1".to_string(),
                format!(
                    "record_too_large: record of {} bytes is larger than the limit of 1000 bytes; \
                     skipped to the end of its line",
                    big.len()
                ),
                "record {\"b\":2} at line 3".to_string(),
            ]
        );
        assert!(
            reader.buf.len() <= 4 * (max + chunk),
            "buffer grew to {}",
            reader.buf.len()
        );

        // Concatenated, pretty.
        let input = format!("{{\n \"a\": 1\n}}\n{big}{{\"b\":2}}");
        let mut reader = RecordReader::new(input.as_bytes())
            .with_chunk_bytes(chunk)
            .with_max_record_bytes(max);
        let mut details = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            details.push(match item {
                Item::Record { bytes, .. } => String::from_utf8_lossy(bytes).into_owned(),
                Item::Rejected { rejection, .. } => rejection.to_string(),
            });
        }
        assert_eq!(
            details,
            [
                "{\n \"a\": 1\n}".to_string(),
                format!(
                    "record_too_large: record of {} bytes is larger than the limit of 1000 bytes; \
                     skipped",
                    big.len()
                ),
                "{\"b\":2}".to_string(),
            ]
        );
        assert!(
            reader.buf.len() <= 4 * (max + chunk),
            "buffer grew to {}",
            reader.buf.len()
        );
    }

    #[test]
    fn records_straddling_chunk_boundaries_come_back_whole() {
        let input = "{\"a\":\"\\\\\\\"\"}\n{\"b\":[{\"c\":\"}\"}]}\nnoise\n{\"d\":1}";
        for chunk_bytes in 1..=40 {
            let items = read_all_with(input.as_bytes(), chunk_bytes, DEFAULT_MAX_RECORD_BYTES);
            assert_eq!(
                items,
                [
                    record("{\"a\":\"\\\\\\\"\"}", 1, 0),
                    record("{\"b\":[{\"c\":\"}\"}]}", 2, 13),
                    rejected(RejectReason::UnexpectedText, "noise", 3),
                    record("{\"d\":1}", 4, 37),
                ],
                "chunk size {chunk_bytes}"
            );
        }
    }

    #[test]
    fn location_displays_as_a_line() {
        let location = Location {
            line: 12,
            byte_offset: 400,
        };
        assert_eq!(location.to_string(), "line 12");
    }

    /// JSON values whose strings are full of what confuses a boundary scanner.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let text = "[a-z{}\\[\\]\"\\\\:,\n\t é“”]{0,12}";
        let leaf = prop_oneof![
            text.prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ];
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(text, inner, 0..4)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn json_record() -> impl Strategy<Value = serde_json::Value> {
        // At least one key, so that a pretty-printed record spans several lines.
        prop::collection::btree_map("[a-z\"{]{1,6}", json_value(), 1..5)
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()))
    }

    #[derive(Debug, Clone, Copy)]
    enum Layout {
        JsonLines,
        JsonLinesCrlf,
        Compact,
        Pretty,
        Array,
    }

    fn layout() -> impl Strategy<Value = Layout> {
        prop_oneof![
            Just(Layout::JsonLines),
            Just(Layout::JsonLinesCrlf),
            Just(Layout::Compact),
            Just(Layout::Pretty),
            Just(Layout::Array),
        ]
    }

    proptest! {
        #[test]
        fn random_records_come_back_exactly_in_every_layout(
            records in prop::collection::vec(json_record(), 1..6),
            layout in layout(),
            chunk_bytes in 1usize..64,
            gap in "[ \t\r\n]{0,3}",
        ) {
            let texts: Vec<String> = records
                .iter()
                .map(|value| match layout {
                    Layout::Pretty => serde_json::to_string_pretty(value).unwrap(),
                    _ => value.to_string(),
                })
                .collect();
            let input = match layout {
                Layout::JsonLines => texts.join("\n") + "\n",
                Layout::JsonLinesCrlf => texts.join("\r\n") + "\r\n",
                Layout::Compact => texts.join(&gap),
                Layout::Pretty => format!("{gap}{}", texts.join(&format!("\n{gap}"))),
                Layout::Array => format!("[{gap}{}{gap}]", texts.join(&format!(",{gap}"))),
            };
            let items = read_all_with(input.as_bytes(), chunk_bytes, DEFAULT_MAX_RECORD_BYTES);
            let got: Vec<String> = items
                .into_iter()
                .map(|item| match item {
                    Got::Record { text, .. } => text,
                    other => format!("{other:?}"),
                })
                .collect();
            prop_assert_eq!(got, texts);
        }

        /// Bedrock's S3 files are JSON Lines: a line cut anywhere (the first one included,
        /// before the layout is known) costs that line and never another.
        #[test]
        fn a_line_cut_anywhere_costs_only_that_line(
            records in prop::collection::vec(json_record(), 2..6),
            cut_line in any::<prop::sample::Index>(),
            cut_at in any::<prop::sample::Index>(),
            chunk_bytes in 1usize..64,
        ) {
            let mut lines: Vec<String> = records.iter().map(|value| value.to_string()).collect();
            let cut_line = cut_line.index(lines.len());
            let line = &lines[cut_line];
            // Cut after at least the opening brace and before the closing one, on a char
            // boundary.
            let cut = (1..line.len() - 1)
                .filter(|at| line.is_char_boundary(*at))
                .nth(cut_at.index(line.len() - 2));
            prop_assume!(cut.is_some());
            let cut_text = line[..cut.unwrap_or(1)].to_string();
            lines[cut_line] = cut_text;
            let input = lines.join("\n") + "\n";
            let items = read_all_with(input.as_bytes(), chunk_bytes, DEFAULT_MAX_RECORD_BYTES);
            let got: Vec<&str> = items
                .iter()
                .filter_map(|item| match item {
                    Got::Record { text, .. } => Some(text.as_str()),
                    Got::Rejected { .. } => None,
                })
                .collect();
            let mut whole: Vec<&str> = lines.iter().map(String::as_str).collect();
            whole.remove(cut_line);
            // The cut line itself may come back as a record (trailing blanks trimmed), which
            // the parser then rejects.
            let cut_record = lines[cut_line].trim_end();
            let kept: Vec<&str> = got.into_iter().filter(|text| *text != cut_record).collect();
            prop_assert_eq!(kept, whole, "input {:?}", input);
        }
    }
}
