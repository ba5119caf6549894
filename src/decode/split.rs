//! A streaming splitter of `{"Records":[ ... ]}` documents into the bytes of each record.
//!
//! It checks only the document's structure (the top-level object, the `Records` array, string
//! and bracket nesting); each record's own JSON is validated when it is parsed, so a malformed
//! record is refused alone while the rest of the file is still read. Memory is one record.

use std::fmt;
use std::io::{self, BufRead};

use memchr::{memchr2, memchr3};

/// Where one record's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordText {
    /// Position in the `Records` array (counted on across concatenated documents).
    pub index: u64,
    /// Offset of the record's first byte in the decompressed stream.
    pub offset: u64,
    /// Whether the element is a JSON object (anything else is not a record).
    pub is_object: bool,
}

/// Why a document could not be read (to the end).
#[derive(Debug)]
pub enum DocumentError {
    /// Zero bytes, or only white space.
    Empty,
    /// Well-formed enough to tell that it is not a CloudTrail log file.
    NotCloudTrail(String),
    /// Broken JSON structure at a byte offset of the decompressed stream.
    Syntax {
        /// Decompressed byte offset.
        offset: u64,
        /// What was wrong.
        message: String,
    },
    /// A record larger than the configured limit.
    RecordTooLarge {
        /// Its index.
        index: u64,
        /// Its decompressed byte offset.
        offset: u64,
        /// The limit.
        limit: usize,
    },
    /// The stream failed: corrupt or truncated gzip, the size cap, a read error.
    Io {
        /// Decompressed bytes read before the failure.
        offset: u64,
        /// The failure.
        error: io::Error,
    },
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentError::Empty => f.write_str("empty file: no JSON document"),
            DocumentError::NotCloudTrail(why) => write!(f, "not a CloudTrail log file: {why}"),
            DocumentError::Syntax { offset, message } => {
                write!(f, "invalid JSON at decompressed byte {offset}: {message}")
            }
            DocumentError::RecordTooLarge {
                index,
                offset,
                limit,
            } => write!(
                f,
                "record {index} at decompressed byte {offset} is larger than {} \
                 (raise --max-record-size to read it)",
                bytesize::ByteSize(*limit as u64)
            ),
            DocumentError::Io { offset, error } => {
                write!(f, "read failed after {offset} decompressed bytes: {error}")
            }
        }
    }
}

impl std::error::Error for DocumentError {}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Before a document (or between concatenated ones).
    Start,
    /// Inside the top-level object, before a key (`first`: no key yet).
    InObject { first: bool },
    /// Inside the `Records` array (`first`: no element yet).
    InRecords { first: bool },
}

/// Splits a decompressed stream into records.
pub struct RecordSplitter<R> {
    reader: R,
    offset: u64,
    state: State,
    next_index: u64,
    documents: u32,
    keys: Vec<String>,
    has_records: bool,
    max_record: usize,
}

type Result<T> = std::result::Result<T, DocumentError>;

fn is_ws(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: BufRead> RecordSplitter<R> {
    /// Splits `reader`, refusing records larger than `max_record` bytes.
    pub fn new(reader: R, max_record: usize) -> Self {
        Self {
            reader,
            offset: 0,
            state: State::Start,
            next_index: 0,
            documents: 0,
            keys: Vec::new(),
            has_records: false,
            max_record,
        }
    }

    /// Decompressed bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next record into `buf` (replacing its contents); `None` at the end.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> Result<Option<RecordText>> {
        loop {
            match self.state {
                State::Start => {
                    if self.documents == 0 {
                        self.skip_bom()?;
                    }
                    match self.skip_ws()? {
                        None if self.documents == 0 => return Err(DocumentError::Empty),
                        None => return Ok(None),
                        Some(b'{') => {
                            self.bump();
                            self.documents += 1;
                            self.keys.clear();
                            self.has_records = false;
                            self.state = State::InObject { first: true };
                        }
                        Some(_) if self.documents == 0 => {
                            return Err(DocumentError::NotCloudTrail(
                                "the file does not start with a JSON object".into(),
                            ));
                        }
                        Some(_) => return Err(self.syntax("unexpected data after the document")),
                    }
                }
                State::InObject { first } => {
                    let mut byte = self.skip_ws()?;
                    if byte == Some(b'}') {
                        self.bump();
                        if !self.has_records {
                            return Err(DocumentError::NotCloudTrail(self.missing_records()));
                        }
                        self.state = State::Start;
                        continue;
                    }
                    if !first {
                        self.expect(byte, b',', "`,` or `}` in the top-level object")?;
                        byte = self.skip_ws()?;
                    }
                    if byte != Some(b'"') {
                        return Err(self.syntax("expected a key in the top-level object"));
                    }
                    let key = self.read_key()?;
                    let colon = self.skip_ws()?;
                    self.expect(colon, b':', "`:` after a key")?;
                    let value = self.skip_ws()?;
                    if key == "Records" {
                        if value != Some(b'[') {
                            return Err(DocumentError::NotCloudTrail(
                                "`Records` is not an array".into(),
                            ));
                        }
                        self.bump();
                        self.has_records = true;
                        self.state = State::InRecords { first: true };
                    } else {
                        if self.keys.len() < 8 {
                            self.keys.push(key);
                        }
                        self.value(value, None)?;
                        self.state = State::InObject { first: false };
                    }
                }
                State::InRecords { first } => {
                    let mut byte = self.skip_ws()?;
                    if byte == Some(b']') {
                        self.bump();
                        self.state = State::InObject { first: false };
                        continue;
                    }
                    if !first {
                        self.expect(byte, b',', "`,` or `]` after a record")?;
                        byte = self.skip_ws()?;
                    }
                    let record = RecordText {
                        index: self.next_index,
                        offset: self.offset,
                        is_object: byte == Some(b'{'),
                    };
                    buf.clear();
                    self.value(byte, Some(buf))?;
                    self.next_index += 1;
                    self.state = State::InRecords { first: false };
                    return Ok(Some(record));
                }
            }
        }
    }

    fn missing_records(&self) -> String {
        let has = |key: &str| self.keys.iter().any(|k| k == key);
        let hint = if has("digestStartTime") || has("logFiles") {
            " (it looks like a CloudTrail digest file)"
        } else if has("s3ObjectKey") || has("s3Bucket") {
            " (it looks like a CloudTrail SNS notification)"
        } else if has("Type") || has("MessageId") || has("Message") {
            " (it looks like an SNS or SQS message body)"
        } else {
            ""
        };
        format!(
            "the top-level object has no `Records` array (keys: {}){hint}",
            if self.keys.is_empty() {
                "none".to_string()
            } else {
                self.keys.join(", ")
            }
        )
    }

    fn syntax(&self, message: &str) -> DocumentError {
        DocumentError::Syntax {
            offset: self.offset,
            message: message.to_string(),
        }
    }

    fn expect(&mut self, byte: Option<u8>, wanted: u8, what: &str) -> Result<()> {
        match byte {
            Some(b) if b == wanted => {
                self.bump();
                Ok(())
            }
            None => Err(self.syntax(&format!("unexpected end of input, expected {what}"))),
            Some(_) => Err(self.syntax(&format!("expected {what}"))),
        }
    }

    fn bump(&mut self) {
        self.reader.consume(1);
        self.offset += 1;
    }

    fn fill(&mut self) -> Result<&[u8]> {
        let offset = self.offset;
        self.reader
            .fill_buf()
            .map_err(|error| DocumentError::Io { offset, error })
    }

    fn skip_bom(&mut self) -> Result<()> {
        if self.fill()?.first() != Some(&0xef) {
            return Ok(());
        }
        for expected in [0xef, 0xbb, 0xbf] {
            if self.fill()?.first() != Some(&expected) {
                return Err(DocumentError::NotCloudTrail(
                    "the file does not start with a JSON object".into(),
                ));
            }
            self.bump();
        }
        Ok(())
    }

    /// Skips white space; returns the next byte without consuming it.
    fn skip_ws(&mut self) -> Result<Option<u8>> {
        loop {
            let chunk = self.fill()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            match chunk.iter().position(|&b| !is_ws(b)) {
                Some(n) => {
                    let byte = chunk[n];
                    self.reader.consume(n);
                    self.offset += n as u64;
                    return Ok(Some(byte));
                }
                None => {
                    let n = chunk.len();
                    self.reader.consume(n);
                    self.offset += n as u64;
                }
            }
        }
    }

    fn read_key(&mut self) -> Result<String> {
        let mut key = Vec::new();
        self.value(Some(b'"'), Some(&mut key))?;
        if key.len() > 1024 {
            return Err(self.syntax("a top-level key is longer than 1 KiB"));
        }
        Ok(String::from_utf8_lossy(&key[1..key.len() - 1]).into_owned())
    }

    /// Consumes one JSON value starting at `first` (already peeked), appending its bytes to
    /// `capture` when given. Containers are matched by counting their own bracket kind outside
    /// strings; the parser validates the inside later.
    fn value(&mut self, first: Option<u8>, mut capture: Option<&mut Vec<u8>>) -> Result<()> {
        let Some(first) = first else {
            return Err(self.syntax("unexpected end of input, expected a value"));
        };
        let (open, close) = match first {
            b'{' => (b'{', b'}'),
            b'[' => (b'[', b']'),
            b'"' => (0, 0),
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => return self.scalar(capture),
            _ => return Err(self.syntax("expected a JSON value")),
        };
        let start = self.offset;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let mut started = false;
        loop {
            let limit = self.max_record;
            let index = self.next_index;
            let chunk = self.fill()?;
            if chunk.is_empty() {
                let what = if capture.is_some() {
                    "a record"
                } else {
                    "a value"
                };
                return Err(self.syntax(&format!("unexpected end of input inside {what}")));
            }
            let mut i = 0;
            let mut end = None;
            if escaped {
                escaped = false;
                i = 1;
            }
            while i < chunk.len() {
                if in_string {
                    match memchr2(b'"', b'\\', &chunk[i..]) {
                        None => i = chunk.len(),
                        Some(p) if chunk[i + p] == b'\\' => {
                            i += p + 2;
                            if i > chunk.len() {
                                escaped = true;
                                i = chunk.len();
                            }
                        }
                        Some(p) => {
                            i += p + 1;
                            in_string = false;
                            if open == 0 {
                                end = Some(i);
                                break;
                            }
                        }
                    }
                } else if open == 0 && !started {
                    // The opening quote of a string value.
                    started = true;
                    in_string = true;
                    i += 1;
                } else {
                    match memchr3(b'"', open, close, &chunk[i..]) {
                        None => i = chunk.len(),
                        Some(p) => {
                            let b = chunk[i + p];
                            i += p + 1;
                            if b == b'"' {
                                in_string = true;
                            } else if b == open {
                                depth += 1;
                            } else {
                                depth -= 1;
                                if depth == 0 {
                                    end = Some(i);
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            let used = end.unwrap_or(chunk.len());
            if let Some(buf) = capture.as_deref_mut() {
                if buf.len() + used > limit {
                    return Err(DocumentError::RecordTooLarge {
                        index,
                        offset: start,
                        limit,
                    });
                }
                buf.extend_from_slice(&chunk[..used]);
            }
            self.reader.consume(used);
            self.offset += used as u64;
            if end.is_some() {
                return Ok(());
            }
        }
    }

    /// Consumes a number, `true`, `false` or `null` up to the next delimiter.
    fn scalar(&mut self, mut capture: Option<&mut Vec<u8>>) -> Result<()> {
        loop {
            let chunk = self.fill()?;
            if chunk.is_empty() {
                return Ok(());
            }
            let n = chunk
                .iter()
                .position(|&b| matches!(b, b',' | b']' | b'}') || is_ws(b));
            let used = n.unwrap_or(chunk.len());
            if let Some(buf) = capture.as_deref_mut() {
                if buf.len() + used > 1024 {
                    return Err(self.syntax("a scalar value is longer than 1 KiB"));
                }
                buf.extend_from_slice(&chunk[..used]);
            }
            self.reader.consume(used);
            self.offset += used as u64;
            if n.is_some() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// Splits `text` read through a tiny buffer, so every chunk boundary case is exercised.
    fn split(text: &str, buffer: usize) -> Result<Vec<(String, RecordText)>> {
        let reader = BufReader::with_capacity(buffer, text.as_bytes());
        let mut splitter = RecordSplitter::new(reader, 1 << 20);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(record) = splitter.next_record(&mut buf)? {
            out.push((String::from_utf8(buf.clone()).unwrap(), record));
        }
        Ok(out)
    }

    #[test]
    fn splits_records_at_any_buffer_size() {
        let text = "\u{feff} {\"before\": {\"x\": [1, \"]}\"]}, \"Records\" : [ {\"a\":\"}\\\"{\"} ,\n\
                    {\"b\":{\"c\":[{}]}},null,[1]],\"after\":true}{\"Records\":[{\"d\":\"\\\\\"}]}\n";
        for buffer in [1, 2, 3, 7, 64, 4096] {
            let records = split(text, buffer).unwrap();
            let texts: Vec<&str> = records.iter().map(|(t, _)| t.as_str()).collect();
            assert_eq!(
                texts,
                [
                    "{\"a\":\"}\\\"{\"}",
                    "{\"b\":{\"c\":[{}]}}",
                    "null",
                    "[1]",
                    "{\"d\":\"\\\\\"}"
                ],
                "buffer {buffer}"
            );
            let objects: Vec<bool> = records.iter().map(|(_, r)| r.is_object).collect();
            assert_eq!(objects, [true, true, false, false, true]);
            assert_eq!(records[4].1.index, 4);
            let offset = records[1].1.offset as usize;
            assert!(text.as_bytes()[offset..].starts_with(b"{\"b\""));
        }
    }

    #[test]
    fn documents_that_are_not_logs() {
        let not_log = |text: &str| match split(text, 4096) {
            Err(DocumentError::NotCloudTrail(why)) => why,
            other => panic!("{text}: {other:?}"),
        };
        assert!(not_log("[1,2]").contains("does not start with a JSON object"));
        assert!(not_log(r#"{"Type":"Notification","MessageId":"x"}"#).contains("SNS or SQS"));
        assert!(
            not_log(r#"{"awsAccountId":"1","digestStartTime":"t","logFiles":[]}"#)
                .contains("digest")
        );
        assert!(not_log(r#"{"Records":{}}"#).contains("not an array"));
        assert!(matches!(split("", 16), Err(DocumentError::Empty)));
        assert!(matches!(split(" \n", 16), Err(DocumentError::Empty)));
        assert_eq!(split(r#"{"Records":[]}"#, 16).unwrap().len(), 0);
    }

    #[test]
    fn broken_structure_reports_the_offset() {
        for (text, offset) in [
            (r#"{"Records":[{"a":1}"#, 19),
            (r#"{"Records":[{"a":1},,]}"#, 20),
            (r#"{"Records":[{"a":1}] "x"}"#, 21),
            (r#"{"Records":[{"a":"unterminated}]}"#, 33),
            (r#"{"Records":[]}x"#, 14),
        ] {
            match split(text, 4) {
                Err(DocumentError::Syntax { offset: at, .. }) => assert_eq!(at, offset, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn records_over_the_limit_are_refused() {
        let text = format!(
            r#"{{"Records":[{{"a":1}},{{"big":"{}"}}]}}"#,
            "x".repeat(100)
        );
        let mut splitter = RecordSplitter::new(text.as_bytes(), 50);
        let mut buf = Vec::new();
        assert!(splitter.next_record(&mut buf).unwrap().is_some());
        match splitter.next_record(&mut buf) {
            Err(DocumentError::RecordTooLarge {
                index: 1,
                offset: 20,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
