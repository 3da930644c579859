//! Content-Encoding, decoded by streaming decoders fed piece by piece, under the body cap.
//!
//! fetchbench asks for compressed bodies (the 150 pokeapi documents are 34.7 MB as JSON, about
//! 1 MB gzipped) and decodes them itself with the codec crates' streaming writers, rather than
//! letting the HTTP client do it, for two reasons: the record can then carry both the bytes on the
//! wire and the decoded bytes, and the cap counts decoded bytes as they come out of the decoder, so
//! a gzip bomb stops at `--max-body` instead of inflating in memory.

use std::io::{self, Write};

use reqwest::header::{HeaderMap, CONTENT_ENCODING};
use thiserror::Error;

/// Why a body could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// More decoded bytes than the cap allows.
    #[error("body too large")]
    TooLarge,
    #[error("unsupported Content-Encoding `{0}`")]
    Unsupported(String),
    #[error("cannot decode {encoding} body: {source}")]
    Corrupt {
        encoding: &'static str,
        source: io::Error,
    },
}

/// A body's content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Encoding {
    /// The coding named by the response's `Content-Encoding` (one coding; stacked codings are rare
    /// enough in practice to be refused clearly rather than guessed at).
    pub fn of(headers: &HeaderMap) -> Result<Self, DecodeError> {
        let Some(value) = headers.get(CONTENT_ENCODING) else {
            return Ok(Encoding::Identity);
        };
        let text = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
        match text.as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            "br" => Ok(Encoding::Brotli),
            "zstd" => Ok(Encoding::Zstd),
            _ => Err(DecodeError::Unsupported(text)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// The decoded side: counts bytes, keeps them if asked, refuses to go past the cap.
#[derive(Debug)]
struct Capped {
    count: u64,
    cap: u64,
    kept: Option<Vec<u8>>,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.count += buf.len() as u64;
        if self.count > self.cap {
            return Err(io::Error::other(OverCap));
        }
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Stage {
    Identity(Capped),
    Gzip(flate2::write::MultiGzDecoder<Capped>),
    Deflate(flate2::write::ZlibDecoder<Capped>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Capped>>),
    Zstd(zstd::stream::write::Decoder<'static, Capped>),
}

/// A decoded body.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Decoded size in bytes.
    pub bytes: u64,
    /// The decoded bytes, when they were asked to be kept.
    pub kept: Vec<u8>,
}

/// Feeds wire bytes in, decoded bytes out to the capped counter.
pub struct BodyDecoder {
    encoding: Encoding,
    stage: Stage,
}

impl BodyDecoder {
    /// A decoder for `encoding` that fails past `cap` decoded bytes and keeps them if `keep`;
    /// `size_hint` (the expected decoded size, if known) sizes the buffer once.
    pub fn new(
        encoding: Encoding,
        cap: u64,
        keep: bool,
        size_hint: u64,
    ) -> Result<Self, DecodeError> {
        let kept =
            keep.then(|| Vec::with_capacity(usize::try_from(size_hint.min(cap)).unwrap_or(0)));
        let sink = Capped {
            count: 0,
            cap,
            kept,
        };
        let stage = match encoding {
            Encoding::Identity => Stage::Identity(sink),
            Encoding::Gzip => Stage::Gzip(flate2::write::MultiGzDecoder::new(sink)),
            Encoding::Deflate => Stage::Deflate(flate2::write::ZlibDecoder::new(sink)),
            Encoding::Brotli => Stage::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(sink, 32 * 1024),
            )),
            Encoding::Zstd => {
                Stage::Zstd(zstd::stream::write::Decoder::new(sink).map_err(|source| {
                    DecodeError::Corrupt {
                        encoding: "zstd",
                        source,
                    }
                })?)
            }
        };
        Ok(Self { encoding, stage })
    }

    /// Decodes one chunk of wire bytes.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        let result = match &mut self.stage {
            Stage::Identity(sink) => sink.write_all(chunk),
            Stage::Gzip(d) => d.write_all(chunk),
            Stage::Deflate(d) => d.write_all(chunk),
            Stage::Brotli(d) => d.write_all(chunk),
            Stage::Zstd(d) => d.write_all(chunk),
        };
        result.map_err(|e| classify(self.encoding, e))
    }

    /// Ends the stream: flushes what the decoder still holds and checks the stream was whole.
    pub fn finish(self) -> Result<Decoded, DecodeError> {
        let encoding = self.encoding;
        let sink = match self.stage {
            Stage::Identity(sink) => Ok(sink),
            Stage::Gzip(d) => d.finish(),
            Stage::Deflate(d) => d.finish(),
            Stage::Brotli(mut d) => d.flush().and_then(|()| {
                d.into_inner()
                    .map_err(|_| io::Error::new(io::ErrorKind::UnexpectedEof, "stream ended early"))
            }),
            Stage::Zstd(mut d) => d.flush().map(|()| d.into_inner()),
        }
        .map_err(|e| classify(encoding, e))?;
        Ok(Decoded {
            bytes: sink.count,
            kept: sink.kept.unwrap_or_default(),
        })
    }
}

/// Decodes a whole received body under the cap; None for an identity body (nothing to decode).
pub fn decode(
    encoding: Encoding,
    wire: &[bytes::Bytes],
    cap: u64,
    keep: bool,
) -> Result<Option<Decoded>, DecodeError> {
    if encoding == Encoding::Identity {
        return Ok(None);
    }
    let wire_len: u64 = wire.iter().map(|c| c.len() as u64).sum();
    // JSON compresses 10-40x; sizing the output once avoids copies while it grows (untouched
    // capacity costs address space, not memory).
    let mut decoder = BodyDecoder::new(encoding, cap, keep, wire_len.saturating_mul(64))?;
    // Fed in pieces so a bomb is stopped after at most one piece's worth of output past the cap.
    for piece in wire.iter().flat_map(|chunk| chunk.chunks(16 * 1024)) {
        decoder.write(piece)?;
    }
    decoder.finish().map(Some)
}

/// Marks the cap's error so it is told apart from a corrupt stream through any codec.
#[derive(Debug)]
struct OverCap;

impl std::fmt::Display for OverCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("body too large")
    }
}

impl std::error::Error for OverCap {}

fn classify(encoding: Encoding, source: io::Error) -> DecodeError {
    if source.get_ref().is_some_and(|inner| inner.is::<OverCap>()) {
        DecodeError::TooLarge
    } else {
        DecodeError::Corrupt {
            encoding: encoding.name(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_gzip_in_pieces() {
        let wire = gzip(br#"{"name":"pikachu"}"#);
        let mut d = BodyDecoder::new(Encoding::Gzip, 1 << 20, true, 0).unwrap();
        for piece in wire.chunks(3) {
            d.write(piece).unwrap();
        }
        let decoded = d.finish().unwrap();
        assert_eq!(decoded.kept, br#"{"name":"pikachu"}"#);
        assert_eq!(decoded.bytes, 18);
    }

    #[test]
    fn the_cap_counts_decoded_bytes() {
        let wire = gzip(&vec![0u8; 1 << 20]);
        assert!(wire.len() < 8 * 1024);
        let mut d = BodyDecoder::new(Encoding::Gzip, 64 * 1024, false, 0).unwrap();
        let result = wire.chunks(1024).try_for_each(|piece| d.write(piece));
        assert!(matches!(result, Err(DecodeError::TooLarge)));
    }

    #[test]
    fn a_truncated_stream_is_corrupt() {
        let wire = gzip(br#"{"name":"pikachu"}"#);
        let mut d = BodyDecoder::new(Encoding::Gzip, 1 << 20, true, 0).unwrap();
        d.write(&wire[..wire.len() / 2]).unwrap();
        assert!(matches!(d.finish(), Err(DecodeError::Corrupt { .. })));
    }

    #[test]
    fn names_the_codings() {
        let mut h = HeaderMap::new();
        assert_eq!(Encoding::of(&h).unwrap(), Encoding::Identity);
        for (name, enc) in [
            ("gzip", Encoding::Gzip),
            ("BR", Encoding::Brotli),
            ("zstd", Encoding::Zstd),
            ("deflate", Encoding::Deflate),
        ] {
            h.insert(CONTENT_ENCODING, name.parse().unwrap());
            assert_eq!(Encoding::of(&h).unwrap(), enc);
        }
        h.insert(CONTENT_ENCODING, "compress".parse().unwrap());
        assert!(matches!(Encoding::of(&h), Err(DecodeError::Unsupported(_))));
    }
}
