//! Turning the bytes of a log object into a stream of record texts, in bounded memory.
//!
//! Compression is sniffed from the gzip magic, never trusted from the file name; multi-member
//! gzip is read whole; the decompressed size is capped so a gzip bomb stops with an error
//! instead of filling memory or disk. The decompressed bytes are hashed (SHA-256) as they
//! pass, in the same read, for the integrity checks against CloudTrail's digests.

mod split;

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use flate2::bufread::MultiGzDecoder;

pub use split::{DocumentError, RecordSplitter, RecordText};

/// Limits that keep one hostile input from exhausting the machine.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest decompressed size of one object.
    pub max_decompressed_bytes: u64,
    /// Largest single record.
    pub max_record_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: 8 << 30,
            max_record_bytes: 64 << 20,
        }
    }
}

const READ_BUFFER: usize = 256 << 10;

/// An opened log object: the decompressed byte stream and how far into the raw object it is.
pub struct Decoded {
    /// The decompressed bytes.
    pub reader: Box<dyn BufRead + Send>,
    /// Whether the object was gzip-compressed.
    pub gzip: bool,
    raw_read: ByteCounter,
    hash: ContentHash,
}

impl Decoded {
    /// Counts the raw (possibly compressed) bytes consumed, also after `reader` is moved.
    pub fn raw_read_counter(&self) -> ByteCounter {
        self.raw_read.clone()
    }

    /// The SHA-256 of the decompressed bytes, once `reader` has been read to its end.
    pub fn content_hash(&self) -> ContentHash {
        self.hash.clone()
    }
}

/// The SHA-256 of a decoded stream, computed as it is read.
#[derive(Clone)]
pub struct ContentHash(Arc<Mutex<HashState>>);

struct HashState {
    context: ring::digest::Context,
    ended: bool,
}

impl ContentHash {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(HashState {
            context: ring::digest::Context::new(&ring::digest::SHA256),
            ended: false,
        })))
    }

    /// The hash in lower-case hex (as CloudTrail's digests write it); `None` until the stream
    /// was read to its end.
    pub fn hex(&self) -> Option<String> {
        let state = self.0.lock().expect("no hasher panics");
        state
            .ended
            .then(|| hex::encode(state.context.clone().finish().as_ref()))
    }
}

/// Passes reads through, hashing every byte.
struct Hashing {
    inner: Box<dyn Read + Send>,
    hash: ContentHash,
}

impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.hash.0.lock().expect("no hasher panics");
        match n {
            0 if !buf.is_empty() => state.ended = true,
            _ => state.context.update(&buf[..n]),
        }
        Ok(n)
    }
}

/// A shared count of bytes read.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    /// Bytes counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Opens a raw object stream, decompressing it when it starts with the gzip magic.
pub fn open(raw: impl Read + Send + 'static, limits: &DecodeLimits) -> io::Result<Decoded> {
    let raw_read = ByteCounter::default();
    let counted = Counting {
        inner: raw,
        count: raw_read.clone(),
    };
    let mut buffered = BufReader::with_capacity(READ_BUFFER, counted);
    let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let hash = ContentHash::new();
    let capped = |inner: Box<dyn Read + Send>| Hashing {
        inner: Box::new(Capped {
            inner,
            left: limits.max_decompressed_bytes,
            cap: limits.max_decompressed_bytes,
        }),
        hash: hash.clone(),
    };
    let reader: Box<dyn BufRead + Send> = if gzip {
        let gunzip = MultiGzDecoder::new(buffered);
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            capped(Box::new(gunzip)),
        ))
    } else {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            capped(Box::new(buffered)),
        ))
    };
    Ok(Decoded {
        reader,
        gzip,
        raw_read,
        hash,
    })
}

/// The error a capped stream returns once it would pass its limit.
#[derive(Debug)]
pub struct SizeCapExceeded(pub u64);

impl std::fmt::Display for SizeCapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "decompressed size passes the cap of {} (a gzip bomb, or raise --max-decompressed-size)",
            bytesize::ByteSize(self.0)
        )
    }
}

impl std::error::Error for SizeCapExceeded {}

struct Capped {
    inner: Box<dyn Read + Send>,
    left: u64,
    cap: u64,
}

impl Read for Capped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One more byte decides whether the stream ends exactly at the cap.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(SizeCapExceeded(self.cap))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

struct Counting<R> {
    inner: R,
    count: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn read_all(raw: Vec<u8>, limits: &DecodeLimits) -> io::Result<(bool, Vec<u8>)> {
        let mut decoded = open(io::Cursor::new(raw), limits)?;
        let mut out = Vec::new();
        decoded.reader.read_to_end(&mut out)?;
        Ok((decoded.gzip, out))
    }

    #[test]
    fn sniffs_gzip_and_reads_every_member() {
        let mut raw = gzip(b"{\"Records\":[");
        raw.extend(gzip(b"]}"));
        let (gz, out) = read_all(raw, &DecodeLimits::default()).unwrap();
        assert!(gz);
        assert_eq!(out, b"{\"Records\":[]}");
        let (gz, out) = read_all(b"{}".to_vec(), &DecodeLimits::default()).unwrap();
        assert!(!gz);
        assert_eq!(out, b"{}");
    }

    #[test]
    fn cap_stops_a_bomb_but_not_a_file_of_exactly_the_cap() {
        let limits = DecodeLimits {
            max_decompressed_bytes: 1000,
            ..DecodeLimits::default()
        };
        let err = read_all(gzip(&vec![b' '; 1_000_000]), &limits).unwrap_err();
        assert!(err.to_string().contains("gzip bomb"), "{err}");
        assert!(read_all(gzip(&[b' '; 1000]), &limits).is_ok());
    }

    #[test]
    fn hashes_the_decompressed_bytes_once_read_to_the_end() {
        let content = b"{\"Records\":[]}";
        for raw in [gzip(content), content.to_vec()] {
            let mut decoded = open(io::Cursor::new(raw), &DecodeLimits::default()).unwrap();
            let hash = decoded.content_hash();
            let mut first = [0u8; 4];
            decoded.reader.read_exact(&mut first).unwrap();
            assert_eq!(hash.hex(), None, "not read to the end yet");
            io::copy(&mut decoded.reader, &mut io::sink()).unwrap();
            // sha256 of {"Records":[]}, as `sha256sum` prints it.
            assert_eq!(
                hash.hex().as_deref(),
                Some("26a792db36a3afba23b1dd277fcc9f15a7313c4a92e4e4cc0494846af345ecff")
            );
        }
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let raw = gzip(&vec![b'x'; 100_000]);
        let err = read_all(raw[..raw.len() / 2].to_vec(), &DecodeLimits::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }
}
