//! The binary encodings of VTK XML data arrays, as ParaView and the VTK library write them
//! ("VTK File Formats", section "XML File Formats", and `vtkXMLDataParser`):
//!
//! * `format="binary"`: the array's bytes base64-encoded inside the `<DataArray>`;
//! * `format="appended"` with `<AppendedData encoding="raw">`: the bytes after the `_` that opens
//!   the block, the array starting at its `offset` (in bytes);
//! * `format="appended"` with `encoding="base64"`: the same as base64 text, `offset` counting
//!   characters.
//!
//! Uncompressed, an array is a header word holding its byte count followed by the bytes, encoded
//! together. With `compressor="vtkZLibDataCompressor"` the header is `[blocks, block size, size of
//! the last block, compressed size of each block]` and the zlib streams of the blocks follow; in
//! base64 the header and the blocks are encoded separately. Header words are `header_type`
//! (`UInt32`, the default, or `UInt64`), little-endian.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// How the file's binary arrays are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Layout {
    /// `header_type="UInt64"` (else UInt32).
    pub header64: bool,
    /// `compressor="vtkZLibDataCompressor"`.
    pub zlib: bool,
}

impl Layout {
    fn word(self) -> usize {
        if self.header64 { 8 } else { 4 }
    }

    fn read_word(self, bytes: &[u8]) -> u64 {
        if self.header64 {
            u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
        } else {
            u64::from(u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")))
        }
    }
}

/// A data array's element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Scalar {
    /// The type of a `type` attribute, if numeric.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "Int8" => Self::I8,
            "UInt8" => Self::U8,
            "Int16" => Self::I16,
            "UInt16" => Self::U16,
            "Int32" => Self::I32,
            "UInt32" => Self::U32,
            "Int64" => Self::I64,
            "UInt64" => Self::U64,
            "Float32" => Self::F32,
            "Float64" => Self::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::I8 | Self::U8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 => 8,
        }
    }

    /// The value of `bytes` (little-endian, `self.size()` of them) as f64; 64-bit integers
    /// beyond 2⁵³ round, as any reader into doubles does.
    fn value(self, b: &[u8]) -> f64 {
        let a = |n: usize| -> [u8; 8] {
            let mut x = [0; 8];
            x[..n].copy_from_slice(&b[..n]);
            x
        };
        match self {
            Self::I8 => f64::from(b[0] as i8),
            Self::U8 => f64::from(b[0]),
            Self::I16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
            Self::U16 => f64::from(u16::from_le_bytes([b[0], b[1]])),
            Self::I32 => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::U32 => f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::I64 => i64::from_le_bytes(a(8)) as f64,
            Self::U64 => u64::from_le_bytes(a(8)) as f64,
            Self::F32 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::F64 => f64::from_le_bytes(a(8)),
        }
    }
}

/// Where an array's encoded bytes are.
pub(super) enum Source<'a> {
    /// Raw bytes, the array starting at the beginning.
    Raw(&'a [u8]),
    /// Base64 text, the array starting at the beginning; `whole` when the text is this array
    /// alone (inline `binary`), so that text its header does not account for is an error.
    Base64 { text: &'a [u8], whole: bool },
}

/// Decodes `count` values of type `scalar` from `source`. The sizes the headers claim are checked
/// against the values expected and the bytes present before anything of that size is allocated.
pub(super) fn decode(
    source: Source<'_>,
    layout: Layout,
    scalar: Scalar,
    count: usize,
) -> Result<Vec<f64>, String> {
    let expected = count
        .checked_mul(scalar.size())
        .ok_or("the array is too large")?;
    let bytes = match source {
        Source::Raw(raw) => raw_payload(raw, layout, expected)?,
        Source::Base64 { text, whole } => base64_payload(text, whole, layout, expected)?,
    };
    Ok(bytes
        .chunks_exact(scalar.size())
        .map(|b| scalar.value(b))
        .collect())
}

/// The header words of a compressed array: blocks, block size, last block size and the blocks'
/// compressed sizes, checked against `expected` uncompressed bytes.
fn compressed_sizes(header: &[u8], layout: Layout, expected: usize) -> Result<Vec<usize>, String> {
    let w = layout.word();
    let words: Vec<u64> = header
        .chunks_exact(w)
        .map(|c| layout.read_word(c))
        .collect();
    let [blocks, block, last] = [words[0], words[1], words[2]];
    let full = if last == 0 {
        blocks
    } else {
        blocks.saturating_sub(1)
    };
    let total = full
        .saturating_mul(block)
        .saturating_add(if last == 0 { 0 } else { last });
    if total != expected as u64 || (blocks > 0 && block == 0) {
        return Err(format!(
            "its compression header describes {total} bytes where the array has {expected}"
        ));
    }
    Ok(words[3..].iter().map(|&s| s as usize).collect())
}

/// Number of blocks a compressed header announces, from its first word.
fn block_count(first: &[u8], layout: Layout, available_words: usize) -> Result<usize, String> {
    let blocks = layout.read_word(first);
    if blocks > available_words as u64 {
        return Err(format!("its compression header claims {blocks} blocks"));
    }
    Ok(blocks as usize)
}

fn raw_payload(raw: &[u8], layout: Layout, expected: usize) -> Result<Vec<u8>, String> {
    let w = layout.word();
    let short = || "the data ends early".to_string();
    if !layout.zlib {
        let head = raw.get(..w).ok_or_else(short)?;
        let length = layout.read_word(head);
        if length != expected as u64 {
            return Err(format!(
                "its header says {length} bytes where the array has {expected}"
            ));
        }
        return Ok(raw.get(w..w + expected).ok_or_else(short)?.to_vec());
    }
    let blocks = block_count(raw.get(..w).ok_or_else(short)?, layout, raw.len() / w)?;
    let header_len = (3 + blocks) * w;
    let sizes = compressed_sizes(raw.get(..header_len).ok_or_else(short)?, layout, expected)?;
    let mut at = header_len;
    // Grown as it inflates: the header's claims are not allocated up front.
    let mut out = Vec::new();
    for size in sizes {
        let block = raw.get(at..at.saturating_add(size)).ok_or_else(short)?;
        inflate(block, expected - out.len(), &mut out)?;
        at += size;
    }
    finish(out, expected)
}

/// Base64 characters that encode `bytes` bytes.
fn chars_for(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

/// The first `chars` characters of `text` decoded, which must give at least `bytes` bytes (early
/// padding can make them give fewer).
fn decode64(text: &[u8], chars: usize, bytes: usize) -> Result<Vec<u8>, String> {
    let part = text
        .get(..chars)
        .ok_or_else(|| "the base64 data ends early".to_string())?;
    let decoded = STANDARD
        .decode(part)
        .map_err(|e| format!("bad base64 data: {e}"))?;
    if decoded.len() < bytes {
        return Err(format!(
            "{chars} base64 characters give {} bytes where {bytes} are needed",
            decoded.len()
        ));
    }
    Ok(decoded)
}

fn base64_payload(
    text: &[u8],
    whole: bool,
    layout: Layout,
    expected: usize,
) -> Result<Vec<u8>, String> {
    // Whitespace (line breaks) may sit between base64 groups; VTK's own files have none inside.
    let text: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let w = layout.word();
    let used = |chars: usize| {
        if whole && chars != text.len() {
            Err(format!(
                "it holds {} base64 characters where its header accounts for {chars}",
                text.len()
            ))
        } else {
            Ok(())
        }
    };
    if !layout.zlib {
        // Header and data encoded together.
        let head = decode64(&text, chars_for(w), w)?;
        let length = layout.read_word(&head);
        if length != expected as u64 {
            return Err(format!(
                "its header says {length} bytes where the array has {expected}"
            ));
        }
        used(chars_for(w + expected))?;
        let all = decode64(&text, chars_for(w + expected), w + expected)?;
        return finish(all[w..].to_vec(), expected);
    }
    // Header encoded alone, then the compressed blocks together.
    let first = decode64(&text, chars_for(3 * w), 3 * w)?;
    let blocks = block_count(&first, layout, text.len() / w)?;
    let header_chars = chars_for((3 + blocks) * w);
    let header = decode64(&text, header_chars, (3 + blocks) * w)?;
    let sizes = compressed_sizes(&header[..(3 + blocks) * w], layout, expected)?;
    let compressed: usize = sizes.iter().sum();
    used(header_chars + chars_for(compressed))?;
    let data = decode64(
        &text[header_chars.min(text.len())..],
        chars_for(compressed),
        compressed,
    )?;
    let mut at = 0usize;
    // Grown as it inflates: the header's claims are not allocated up front.
    let mut out = Vec::new();
    for size in sizes {
        let block = data
            .get(at..at.saturating_add(size))
            .ok_or_else(|| "the compressed data ends early".to_string())?;
        inflate(block, expected - out.len(), &mut out)?;
        at += size;
    }
    finish(out, expected)
}

/// Inflates one zlib block onto `out`, reading at most `room` bytes of output.
fn inflate(block: &[u8], room: usize, out: &mut Vec<u8>) -> Result<(), String> {
    flate2::read::ZlibDecoder::new(block)
        .take(room as u64 + 1)
        .read_to_end(out)
        .map(|_| ())
        .map_err(|e| format!("bad zlib data: {e}"))
}

fn finish(bytes: Vec<u8>, expected: usize) -> Result<Vec<u8>, String> {
    if bytes.len() == expected {
        Ok(bytes)
    } else {
        Err(format!(
            "it decodes to {} bytes where the array has {expected}",
            bytes.len()
        ))
    }
}

/// Encodes `values` as an uncompressed (or zlib-compressed) appended block with UInt64
/// headers, as VTK's writers lay it out.
pub(super) fn encode(values: &[f64], zlib: bool) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    if !zlib {
        let mut out = (data.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&data);
        return out;
    }
    // One block per 32 KiB, VTK's default block size.
    const BLOCK: usize = 1 << 15;
    let compressed: Vec<Vec<u8>> = data
        .chunks(BLOCK)
        .map(|chunk| {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut encoder, chunk).expect("writing to memory");
            encoder.finish().expect("writing to memory")
        })
        .collect();
    let last = data.len() % BLOCK;
    let mut out = Vec::new();
    for word in [compressed.len(), BLOCK, last]
        .into_iter()
        .chain(compressed.iter().map(Vec::len))
    {
        out.extend_from_slice(&(word as u64).to_le_bytes());
    }
    for block in compressed {
        out.extend_from_slice(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_compressed_blocks_round_trip() {
        let values: Vec<f64> = (0..10_000).map(|i| f64::from(i).sin()).collect();
        let layout = |zlib| Layout {
            header64: true,
            zlib,
        };
        for zlib in [false, true] {
            let bytes = encode(&values, zlib);
            let back =
                decode(Source::Raw(&bytes), layout(zlib), Scalar::F64, values.len()).unwrap();
            assert_eq!(back, values);
            // One value fewer expected: refused, not misread.
            let e = decode(
                Source::Raw(&bytes),
                layout(zlib),
                Scalar::F64,
                values.len() - 1,
            );
            assert!(e.is_err());
            // Cut short: refused.
            let cut = &bytes[..bytes.len() - 3];
            assert!(decode(Source::Raw(cut), layout(zlib), Scalar::F64, values.len()).is_err());
        }
    }

    #[test]
    fn a_header_claiming_too_much_is_refused_without_allocating_it() {
        let mut bytes = vec![0xff; 8];
        bytes.extend_from_slice(&[0; 16]);
        let layout = Layout {
            header64: true,
            zlib: true,
        };
        assert!(decode(Source::Raw(&bytes), layout, Scalar::F64, 2).is_err());
        let layout = Layout {
            header64: false,
            zlib: false,
        };
        let source = Source::Base64 {
            text: b"////",
            whole: true,
        };
        assert!(decode(source, layout, Scalar::F64, 2).is_err());
        // Padding early: the header's characters give fewer bytes than a header.
        for (zlib, text) in [(false, "A".repeat(10)), (true, "A".repeat(30))] {
            let layout = Layout {
                header64: true,
                zlib,
            };
            let text = format!("{text}==");
            let source = Source::Base64 {
                text: text.as_bytes(),
                whole: false,
            };
            assert!(decode(source, layout, Scalar::F64, 0).is_err(), "{text}");
        }
    }
}
