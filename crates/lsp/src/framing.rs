//! LSP's base protocol: messages framed by a `Content-Length` header.
//!
//! ```text
//! Content-Length: 52\r\n
//! Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n
//! \r\n
//! {"jsonrpc":"2.0","id":1,"method":"initialize",...}
//! ```
//!
//! The bytes come from a program of the box, so the reader trusts none of
//! them: the header block is at most [`MAX_HEADER_BYTES`], a declared
//! length over the bound is refused before any of its body is kept, and
//! bytes arrive in any chunking (a header split mid-line, several
//! messages in one read).

use bytes::{Bytes, BytesMut};

/// Largest header block (all header lines and the blank line).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Why a stream of messages cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// A message declared a body over the bound.
    #[error("the language server sent a message of {length} bytes; at most {max} are allowed")]
    MessageTooLarge {
        /// The declared length.
        length: u64,
        /// The bound.
        max: usize,
    },
    /// The header block is longer than [`MAX_HEADER_BYTES`].
    #[error("the language server sent a header block longer than {MAX_HEADER_BYTES} bytes")]
    HeaderTooLong,
    /// A header block without `Content-Length`, or with one that is not a
    /// number, or a line that is not `Name: value`.
    #[error("the language server sent a malformed header: {0}")]
    MalformedHeader(String),
}

/// Splits a byte stream into message bodies.
#[derive(Debug)]
pub struct MessageReader {
    buffer: BytesMut,
    max_message: usize,
    /// The body length of the message whose header has been read.
    body: Option<usize>,
}

impl MessageReader {
    /// A reader whose messages' bodies may take `max_message` bytes.
    pub fn new(max_message: usize) -> MessageReader {
        MessageReader { buffer: BytesMut::new(), max_message, body: None }
    }

    /// Takes the next bytes of the stream; returns the bodies they
    /// complete. After an error the stream cannot be read on.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<Bytes>, FramingError> {
        let mut bodies = Vec::new();
        while !bytes.is_empty() || self.ready() {
            match self.body {
                Some(length) => {
                    let wanted = length - self.buffer.len();
                    let taken = wanted.min(bytes.len());
                    self.buffer.extend_from_slice(&bytes[..taken]);
                    bytes = &bytes[taken..];
                    if self.buffer.len() < length {
                        break;
                    }
                    bodies.push(self.buffer.split().freeze());
                    self.body = None;
                }
                None => {
                    // Header bytes are taken a line's worth at a time, so
                    // a block that never ends is caught at the bound.
                    let room = MAX_HEADER_BYTES + 1 - self.buffer.len();
                    let end = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
                    let taken = end.min(room);
                    self.buffer.extend_from_slice(&bytes[..taken]);
                    bytes = &bytes[taken..];
                    if let Some(length) = self.header_end()? {
                        self.body = Some(length);
                    } else if self.buffer.len() > MAX_HEADER_BYTES {
                        return Err(FramingError::HeaderTooLong);
                    }
                }
            }
        }
        Ok(bodies)
    }

    /// Whether a message with an empty body is complete.
    fn ready(&self) -> bool {
        self.body == Some(0)
    }

    /// When the buffer holds a whole header block: its body's length, the
    /// block taken out of the buffer.
    fn header_end(&mut self) -> Result<Option<usize>, FramingError> {
        let Some(end) = find(&self.buffer, b"\r\n\r\n") else { return Ok(None) };
        let block = self.buffer.split_to(end + 4);
        let text = std::str::from_utf8(&block[..end])
            .map_err(|_| FramingError::MalformedHeader("the header is not UTF-8".into()))?;
        let mut length = None;
        for line in text.split("\r\n") {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| FramingError::MalformedHeader(format!("{:?} is not a header line", shorten(line))))?;
            if name.trim().eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                let parsed: u64 = value.parse().map_err(|_| {
                    FramingError::MalformedHeader(format!("Content-Length {:?} is not a number", shorten(value)))
                })?;
                if parsed > self.max_message as u64 {
                    return Err(FramingError::MessageTooLarge { length: parsed, max: self.max_message });
                }
                length = Some(parsed as usize);
            }
        }
        let length = length.ok_or_else(|| FramingError::MalformedHeader("no Content-Length".into()))?;
        // Header bytes are taken up to a line's end, so the block was all
        // the buffer held: the body starts in an empty buffer, which grows
        // only as its bytes arrive.
        Ok(Some(length))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A message body with its header, as a server reads it.
pub fn encode(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 32);
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reader: &mut MessageReader, bytes: &[u8], chunk: usize) -> Result<Vec<Bytes>, FramingError> {
        let mut bodies = Vec::new();
        for piece in bytes.chunks(chunk) {
            bodies.extend(reader.push(piece)?);
        }
        Ok(bodies)
    }

    #[test]
    fn messages_come_whole_in_any_chunking() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&encode(br#"{"jsonrpc":"2.0","id":1,"result":null}"#));
        stream.extend_from_slice(
            b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length:  2\r\n\r\n{}",
        );
        stream.extend_from_slice(&encode(b""));
        stream.extend_from_slice(&encode("{\"text\":\"é\"}".as_bytes()));
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let mut reader = MessageReader::new(1024);
            let bodies = read_all(&mut reader, &stream, chunk).unwrap();
            let texts: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
            assert_eq!(
                texts,
                [&br#"{"jsonrpc":"2.0","id":1,"result":null}"#[..], b"{}", b"", "{\"text\":\"é\"}".as_bytes()],
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_huge_content_length_is_refused_before_its_body() {
        let mut reader = MessageReader::new(4 << 20);
        let err = reader.push(b"Content-Length: 18446744073709551615\r\n\r\n").unwrap_err();
        assert_eq!(err, FramingError::MessageTooLarge { length: u64::MAX, max: 4 << 20 });
        let mut reader = MessageReader::new(4 << 20);
        let err = reader.push(b"Content-Length: 99999999999999999999999\r\n\r\n").unwrap_err();
        assert!(matches!(err, FramingError::MalformedHeader(_)), "{err}");
        let mut reader = MessageReader::new(10);
        assert!(matches!(reader.push(b"Content-Length: 11\r\n\r\n"), Err(FramingError::MessageTooLarge { .. })));
        let mut reader = MessageReader::new(10);
        assert_eq!(reader.push(b"Content-Length: 10\r\n\r\n0123456789").unwrap().len(), 1, "the bound itself is fine");
    }

    #[test]
    fn a_header_without_length_or_with_junk_is_refused() {
        for bad in [
            &b"Content-Type: x\r\n\r\n{}"[..],
            b"Content-Length: -3\r\n\r\n",
            b"Content-Length: 1e3\r\n\r\n",
            b"{\"jsonrpc\":\"2.0\"}\r\n\r\n",
            b"Content-Length: \xff\r\n\r\n",
        ] {
            let mut reader = MessageReader::new(1024);
            let err = reader.push(bad).unwrap_err();
            assert!(matches!(err, FramingError::MalformedHeader(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_header_that_never_ends_is_refused_at_the_bound() {
        let mut reader = MessageReader::new(1024);
        let endless = vec![b'x'; 1024];
        let mut outcome = Ok(Vec::new());
        for _ in 0..9 {
            outcome = reader.push(&endless);
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(outcome.unwrap_err(), FramingError::HeaderTooLong);
        assert!(reader.buffer.len() <= MAX_HEADER_BYTES + 1, "kept {} bytes", reader.buffer.len());
        // Many short header lines, none blank.
        let mut reader = MessageReader::new(1024);
        let lines = b"X-Junk: 1\r\n".repeat(1000);
        assert_eq!(read_all(&mut reader, &lines, 100).unwrap_err(), FramingError::HeaderTooLong);
    }

    #[test]
    fn a_body_is_only_kept_as_it_arrives() {
        let mut reader = MessageReader::new(1 << 20);
        assert!(reader.push(b"Content-Length: 1000000\r\n\r\n").unwrap().is_empty());
        assert!(reader.push(&[b' '; 1000]).unwrap().is_empty());
        assert_eq!(reader.buffer.len(), 1000);
    }
}
