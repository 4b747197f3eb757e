//! Avro object container files: header (magic, metadata with schema and codec, sync marker),
//! then blocks of `[count][byte size][records][sync marker]`, read one block at a time.

use super::window::Window;
use super::{FileError, Position, ReadError, OCF_MAGIC};
use crate::decode::plan::DecodePlan;
use crate::decode::projection::{DecodedEvent, Projection};
use crate::decode::schema::SchemaSource;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;

/// Largest inflated block accepted (guards against decompression bombs).
const MAX_INFLATED_BLOCK: usize = 256 << 20;
/// Largest number of header metadata entries accepted.
const MAX_METADATA_ENTRIES: usize = 1024;
const SYNC_LEN: usize = 16;
/// The longest zigzag varint.
const MAX_VARINT: u64 = 10;
/// The longest block header: two varints.
const MAX_BLOCK_HEADER: u64 = 2 * MAX_VARINT;

/// The block codecs of the Avro specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    Null,
    Deflate,
    /// Raw snappy, then the big-endian CRC-32 of the uncompressed bytes.
    Snappy,
    Zstandard,
    Bzip2,
    Xz,
}

/// The names `avro.codec` may have, for the error naming an unsupported one.
pub(super) const CODECS: &str = "null, deflate, snappy, zstandard, bzip2, xz";

impl Codec {
    fn from_name(name: &[u8]) -> Option<Codec> {
        Some(match name {
            b"null" => Codec::Null,
            b"deflate" => Codec::Deflate,
            b"snappy" => Codec::Snappy,
            b"zstandard" => Codec::Zstandard,
            b"bzip2" => Codec::Bzip2,
            b"xz" => Codec::Xz,
            _ => return None,
        })
    }

    /// Decompresses one block's data, refusing to produce more than [`MAX_INFLATED_BLOCK`]
    /// bytes (or, for xz, to use more memory than that).
    fn decompress(self, data: &[u8]) -> Result<Vec<u8>, String> {
        let too_big = || format!("the block inflates to more than {MAX_INFLATED_BLOCK} bytes");
        match self {
            Codec::Null => Ok(data.to_vec()),
            Codec::Deflate => inflate(data, MAX_INFLATED_BLOCK),
            Codec::Snappy => {
                let Some((data, crc)) = data.split_last_chunk::<4>() else {
                    return Err(format!(
                        "a snappy block of {} bytes has no room for its 4-byte CRC-32",
                        data.len()
                    ));
                };
                let len = snap::raw::decompress_len(data)
                    .map_err(|e| format!("snappy data cannot be decompressed ({e})"))?;
                if len > MAX_INFLATED_BLOCK {
                    return Err(too_big());
                }
                let out = snap::raw::Decoder::new()
                    .decompress_vec(data)
                    .map_err(|e| format!("snappy data cannot be decompressed ({e})"))?;
                let (expected, actual) = (u32::from_be_bytes(*crc), crc32fast::hash(&out));
                if expected != actual {
                    return Err(format!(
                        "the snappy block's CRC-32 is {expected:#010x} but its data's is {actual:#010x}"
                    ));
                }
                Ok(out)
            }
            Codec::Zstandard => {
                let decoder = zstd::stream::read::Decoder::with_buffer(data)
                    .map_err(|e| format!("zstandard data cannot be decompressed ({e})"))?;
                read_bounded(decoder, "zstandard", MAX_INFLATED_BLOCK)
            }
            Codec::Bzip2 => read_bounded(
                bzip2::read::BzDecoder::new(data),
                "bzip2",
                MAX_INFLATED_BLOCK,
            ),
            Codec::Xz => {
                let stream =
                    liblzma::stream::Stream::new_stream_decoder(MAX_INFLATED_BLOCK as u64, 0)
                        .map_err(|e| format!("xz decoder: {e}"))?;
                let decoder = liblzma::read::XzDecoder::new_stream(data, stream);
                read_bounded(decoder, "xz", MAX_INFLATED_BLOCK)
            }
        }
    }
}

/// Inflates raw deflate data (what Avro's `deflate` codec writes), failing past `limit` bytes.
fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut inflater = Decompress::new(false);
    // Heartbeat-like records deflate 4-6 to 1: start near the final size, then double.
    let mut out = Vec::with_capacity(data.len().saturating_mul(6).clamp(64, limit));
    loop {
        let read = inflater.total_in() as usize;
        let written = out.len();
        let status = inflater
            .decompress_vec(&data[read..], &mut out, FlushDecompress::Finish)
            .map_err(|e| format!("deflate data cannot be inflated ({e})"))?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
        if out.len() < out.capacity() {
            // Room left, nothing more came out: the input ended before the stream did.
            let stuck = inflater.total_in() as usize == read && out.len() == written;
            if stuck || inflater.total_in() as usize == data.len() {
                return Err("deflate data cannot be inflated (the stream ends early)".into());
            }
            continue;
        }
        if out.len() >= limit {
            return Err(format!("the block inflates to more than {limit} bytes"));
        }
        out.reserve_exact(out.len().min(limit - out.len()).max(64));
    }
}

/// Reads a decompressing reader to its end, failing past `limit` bytes.
fn read_bounded(reader: impl io::Read, codec: &str, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{codec} data cannot be decompressed ({e})"))?;
    if out.len() > limit {
        return Err(format!("the block inflates to more than {limit} bytes"));
    }
    Ok(out)
}

#[derive(Debug)]
enum BlockData {
    /// Uncompressed records, read in place from the window (offsets in the file).
    Raw(Range<u64>),
    /// Decompressed records.
    Inflated(Vec<u8>),
}

/// A block as its header claims it: record count, data range, and the end of the 16 bytes
/// where its sync marker should be (offsets in the file).
#[derive(Debug)]
struct Frame {
    count: u64,
    data: Range<u64>,
    end: u64,
}

/// Why no block can be read at an offset.
#[derive(Debug, thiserror::Error)]
enum BadFrame {
    /// A header varint is cut off or longer than 10 bytes.
    #[error("the block header is unreadable (a varint runs past the file or over 10 bytes)")]
    Unreadable,
    /// A negative count or size.
    #[error("negative record count {count} or byte size {size}")]
    Negative { count: i64, size: i64 },
    /// The data and marker would run past the end of the file.
    #[error("the block claims {count} records in {size} bytes but only {remaining} bytes remain")]
    Overruns {
        count: u64,
        size: i64,
        remaining: u64,
    },
}

#[derive(Debug)]
struct Block {
    data: BlockData,
    /// Offset of the next record in `data`.
    next: usize,
    /// Records not read yet.
    remaining: u64,
    count: u64,
    index: u64,
    offset: u64,
}

/// Reads the records of an object container file with a plan compiled against its header
/// schema, pulling one block at a time from `R` (a [`BufReader`] over the file by default).
#[derive(Debug)]
pub struct OcfReader<R = BufReader<File>> {
    window: Window<R>,
    /// Offset of the next block.
    pos: u64,
    /// Nothing more can be read (the end of the file, or framing or I/O broken for good).
    ended: bool,
    schema: SchemaSource,
    plan: DecodePlan,
    codec: Codec,
    sync: [u8; SYNC_LEN],
    /// Offset of the first block (the end of the header).
    first_block: u64,
    block: Option<Block>,
    /// An error to report on the next call (the records lost after a malformed one).
    pending: Option<ReadError>,
    records: u64,
    blocks: u64,
}

/// Reads a zigzag varint long at `*pos`; `None` if the bytes end first or it is over 10 bytes.
fn read_long(bytes: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

/// A block header at the start of `bytes`: record count, byte size, and the header's length.
fn block_header(bytes: &[u8]) -> Result<(i64, i64, u64), BadFrame> {
    let mut pos = 0;
    let count = read_long(bytes, &mut pos).ok_or(BadFrame::Unreadable)?;
    let size = read_long(bytes, &mut pos).ok_or(BadFrame::Unreadable)?;
    Ok((count, size, pos as u64))
}

/// Reads a varint long at `*pos` from the window (see [`read_long`]).
fn long_at<R: BufRead>(window: &mut Window<R>, pos: &mut u64) -> io::Result<Option<i64>> {
    window.fill_to(*pos + MAX_VARINT)?;
    let mut read = 0;
    let value = read_long(window.tail(*pos), &mut read);
    *pos += read as u64;
    Ok(value)
}

/// Reads a length-prefixed byte string at `*pos` from the window; `None` if it is cut off.
fn bytes_at<R: BufRead>(window: &mut Window<R>, pos: &mut u64) -> io::Result<Option<Vec<u8>>> {
    let Some(len) = long_at(window, pos)?.and_then(|l| u64::try_from(l).ok()) else {
        return Ok(None);
    };
    let Some(end) = pos.checked_add(len) else {
        return Ok(None);
    };
    if !window.ensure(end)? {
        return Ok(None);
    }
    let out = window.slice(*pos..end).to_vec();
    *pos = end;
    Ok(Some(out))
}

/// A parsed header: metadata entries, sync marker, and the offset of the first block.
type Header = (Vec<(String, Vec<u8>)>, [u8; SYNC_LEN], u64);

/// Parses the header.
fn parse_header<R: BufRead>(window: &mut Window<R>) -> Result<Header, FileError> {
    window
        .fill_to(OCF_MAGIC.len() as u64)
        .map_err(FileError::Read)?;
    if !window.tail(0).starts_with(&OCF_MAGIC) {
        return Err(FileError::BadHeader(
            "the file does not start with `Obj\\x01`".into(),
        ));
    }
    let mut pos = OCF_MAGIC.len() as u64;
    let bad = |what: &str, pos: u64| FileError::BadHeader(format!("{what} at byte {pos}"));
    let mut metadata = Vec::new();
    loop {
        let at = pos;
        let count = long_at(window, &mut pos)
            .map_err(FileError::Read)?
            .ok_or_else(|| bad("truncated metadata block count", at))?;
        if count == 0 {
            break;
        }
        if count < 0 {
            long_at(window, &mut pos)
                .map_err(FileError::Read)?
                .ok_or_else(|| bad("truncated metadata block size", pos))?;
        }
        let count = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        if count > MAX_METADATA_ENTRIES - metadata.len().min(MAX_METADATA_ENTRIES) {
            return Err(bad("too many metadata entries", at));
        }
        for _ in 0..count {
            let at = pos;
            let key = bytes_at(window, &mut pos)
                .map_err(FileError::Read)?
                .ok_or_else(|| bad("truncated metadata key", at))?;
            let key = String::from_utf8(key).map_err(|_| bad("metadata key is not UTF-8", at))?;
            let value = bytes_at(window, &mut pos)
                .map_err(FileError::Read)?
                .ok_or_else(|| bad("truncated metadata value", at))?;
            metadata.push((key, value));
        }
    }
    let end = pos + SYNC_LEN as u64;
    if !window.ensure(end).map_err(FileError::Read)? {
        return Err(bad("truncated sync marker", pos));
    }
    let sync = <[u8; SYNC_LEN]>::try_from(window.slice(pos..end)).expect("16 bytes");
    Ok((metadata, sync, end))
}

impl<R: BufRead> OcfReader<R> {
    /// Parses the header of the object container file read from `source` and compiles
    /// `projection` against its writer schema.
    pub fn new(source: R, projection: &Projection) -> Result<Self, FileError> {
        Self::from_window(Window::new(source, None), projection)
    }

    /// [`OcfReader::new`] on a window at the start of the file.
    pub(super) fn from_window(
        mut window: Window<R>,
        projection: &Projection,
    ) -> Result<Self, FileError> {
        let (metadata, sync, pos) = parse_header(&mut window)?;
        let get = |key: &str| {
            metadata
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_slice())
        };
        let json = get("avro.schema")
            .ok_or_else(|| FileError::BadHeader("no `avro.schema` in the metadata".into()))?;
        let json = std::str::from_utf8(json)
            .map_err(|_| FileError::BadHeader("`avro.schema` is not UTF-8".into()))?;
        let schema = SchemaSource::parse(json, "object container file header")?;
        let name = get("avro.codec").unwrap_or(b"null");
        let codec = Codec::from_name(name).ok_or_else(|| {
            FileError::UnsupportedCodec(String::from_utf8_lossy(name).into_owned())
        })?;
        let plan = DecodePlan::compile(&schema, projection)?;
        Ok(OcfReader {
            window,
            pos,
            ended: false,
            schema,
            plan,
            codec,
            sync,
            first_block: pos,
            block: None,
            pending: None,
            records: 0,
            blocks: 0,
        })
    }

    /// The writer schema from the header.
    pub fn schema(&self) -> &SchemaSource {
        &self.schema
    }

    /// The bytes allocated for buffering the file.
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.window.capacity()
    }

    /// Decodes the next record into `out`; `None` at the end of the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        loop {
            let Some(block) = &mut self.block else {
                if let Some(err) = self.next_block() {
                    return Some(Err(err));
                }
                // Still no block: the end of the file.
                self.block.as_ref()?;
                continue;
            };
            let data = match &block.data {
                BlockData::Raw(range) => self.window.slice(range.clone()),
                BlockData::Inflated(v) => v.as_slice(),
            };
            let in_block = block.count - block.remaining;
            let (block_index, offset) = (block.index, block.offset);
            let at = Position::Block {
                index: self.records,
                block: block_index,
                offset,
                in_block,
            };
            if block.remaining == 0 {
                let left = data.len() - block.next;
                self.block = None;
                if left > 0 {
                    return Some(Err(ReadError::CorruptBlock {
                        at,
                        lost: None,
                        detail: format!(
                            "{left} bytes are left after the block's {in_block} records"
                        ),
                    }));
                }
                continue;
            }
            let (res, len) = self.plan.decode_prefix(&data[block.next..], out);
            self.records += 1;
            block.remaining -= 1;
            match len {
                Some(len) => {
                    block.next += len;
                    return Some(
                        res.map(|()| at)
                            .map_err(|error| ReadError::Record { at, error }),
                    );
                }
                None => {
                    // Records are not delimited inside a block: the rest of it is lost.
                    let lost = block.remaining;
                    self.block = None;
                    if lost > 0 {
                        self.pending = Some(ReadError::CorruptBlock {
                            at: Position::Block { index: self.records, block: block_index, offset, in_block: in_block + 1 },
                            lost: Some(lost),
                            detail: "the previous record is malformed, so the rest of its block cannot be located".into(),
                        });
                    }
                    // `len` is only unknown after an error; `Ok` here would be a bug, not data.
                    let error = match res {
                        Err(error) => error,
                        Ok(()) => continue,
                    };
                    return Some(Err(ReadError::Record { at, error }));
                }
            }
        }
    }

    /// Reads the block at `self.pos` into `self.block` (leaving it `None` at the end of the
    /// file); returns an error when the block is corrupt (the reader has then moved past it)
    /// or the file cannot be read on (the reader has then ended).
    fn next_block(&mut self) -> Option<ReadError> {
        if self.ended {
            return None;
        }
        let start = self.pos;
        // The previous block's records are all read.
        self.window.discard_before(start);
        let at = Position::Block {
            index: self.records,
            block: self.blocks,
            offset: start,
            in_block: 0,
        };
        self.read_block(at, start).unwrap_or_else(|source| {
            self.ended = true;
            Some(ReadError::Io { at, source })
        })
    }

    fn read_block(&mut self, at: Position, start: u64) -> io::Result<Option<ReadError>> {
        self.window.fill_to(start + MAX_BLOCK_HEADER)?;
        let available = self.window.tail(start).len() as u64;
        if available == 0 {
            self.ended = true;
            return Ok(None);
        }
        let index = self.blocks;
        self.blocks += 1;
        let frame = match self.frame_at(start)? {
            Ok(frame) if self.synced(&frame) => frame,
            Ok(frame) => {
                let detail = format!(
                    "no sync marker where the block of {} records should end",
                    frame.count
                );
                return self.resync(at, start, detail).map(Some);
            }
            // Fewer bytes than two longest varints: the file was cut inside the header.
            Err(BadFrame::Unreadable) if available < MAX_BLOCK_HEADER => {
                self.ended = true;
                return Ok(Some(ReadError::Truncated {
                    at,
                    detail: "the file ends inside a block header".into(),
                }));
            }
            Err(bad) => return self.resync(at, start, bad.to_string()).map(Some),
        };
        self.pos = frame.end;
        let data = match self.block_data(&frame) {
            Ok(data) => data,
            Err(detail) => {
                return Ok(Some(ReadError::CorruptBlock {
                    at,
                    lost: Some(frame.count),
                    detail,
                }))
            }
        };
        self.block = Some(Block {
            data,
            next: 0,
            remaining: frame.count,
            count: frame.count,
            index,
            offset: start,
        });
        Ok(None)
    }

    /// The block its header at `start` claims (without checking its sync marker), buffered
    /// up to the end of its marker.
    fn frame_at(&mut self, start: u64) -> io::Result<Result<Frame, BadFrame>> {
        self.window.fill_to(start + MAX_BLOCK_HEADER)?;
        let (count, size, header) = match block_header(self.window.tail(start)) {
            Ok(h) => h,
            Err(bad) => return Ok(Err(bad)),
        };
        let (Ok(count), Ok(len)) = (u64::try_from(count), u64::try_from(size)) else {
            return Ok(Err(BadFrame::Negative { count, size }));
        };
        let pos = start + header;
        let end = pos
            .checked_add(len)
            .and_then(|e| e.checked_add(SYNC_LEN as u64))
            .unwrap_or(u64::MAX);
        Ok(if self.window.ensure(end)? {
            Ok(Frame {
                count,
                data: pos..end - SYNC_LEN as u64,
                end,
            })
        } else {
            Err(BadFrame::Overruns {
                count,
                size,
                remaining: self.window.remaining_from(pos),
            })
        })
    }

    /// Whether the file's sync marker follows the frame's data.
    fn synced(&self, frame: &Frame) -> bool {
        self.window.slice(frame.data.end..frame.end) == self.sync
    }

    /// The frame's records, decompressed if the codec compresses them.
    fn block_data(&self, frame: &Frame) -> Result<BlockData, String> {
        match self.codec {
            Codec::Null => Ok(BlockData::Raw(frame.data.clone())),
            codec => codec
                .decompress(self.window.slice(frame.data.clone()))
                .map(BlockData::Inflated),
        }
    }

    /// Whether the frame holds exactly `count` delimitable records (a block found while
    /// resynchronising is only trusted if it does).
    fn decodes(&self, frame: &Frame) -> bool {
        let Ok(data) = self.block_data(frame) else {
            return false;
        };
        let data = match &data {
            BlockData::Raw(range) => self.window.slice(range.clone()),
            BlockData::Inflated(v) => v.as_slice(),
        };
        // Every record takes at least one byte (a session key and a time are projected).
        if frame.count == 0 || frame.count > data.len() as u64 {
            return false;
        }
        let mut scratch = DecodedEvent::default();
        let mut next = 0;
        for _ in 0..frame.count {
            match self.plan.decode_prefix(&data[next..], &mut scratch).1 {
                Some(len) => next += len,
                None => return false,
            }
        }
        next == data.len()
    }

    /// Moves past the corrupt block at `start` to the first intact block after it and reports
    /// the corruption.
    ///
    /// The first sync marker after `start` ends either the corrupt block itself (when its
    /// header was damaged) or a later block (when the corrupt block's own marker was damaged,
    /// the next one found ends the block after it). So reading resumes at the earliest offset
    /// before that marker where a header claims a block ending exactly at it whose records
    /// decode; failing that, just after the marker. The bytes from `start` to the marker stay
    /// buffered meanwhile.
    fn resync(&mut self, at: Position, start: u64, detail: String) -> io::Result<ReadError> {
        let from = start + 1;
        let Some(marker) = self.find_marker(from)? else {
            self.ended = true;
            // No marker after the first block at all: the header's copy is the damaged one
            // more likely than every block of the file.
            let hint = if start == self.first_block {
                " (the sync marker in the file header may be damaged)"
            } else {
                ""
            };
            return Ok(ReadError::Truncated {
                at,
                detail: format!("{detail}, and no later sync marker exists{hint}"),
            });
        };
        let resume = (from..marker)
            .find(|&q| self.ends_at(q, marker).is_some_and(|f| self.decodes(&f)))
            .unwrap_or(marker + SYNC_LEN as u64);
        self.pos = resume;
        Ok(ReadError::CorruptBlock {
            at,
            lost: self.lost_between(start, resume),
            detail: format!("{detail}; resuming at byte {resume}"),
        })
    }

    /// The offset of the first sync marker at or after `from`, reading on as far as needed (a
    /// marker may straddle what was buffered and what was not).
    fn find_marker(&mut self, from: u64) -> io::Result<Option<u64>> {
        let finder = memchr::memmem::Finder::new(&self.sync);
        let mut scan = from;
        loop {
            if let Some(i) = finder.find(self.window.tail(scan)) {
                return Ok(Some(scan + i as u64));
            }
            // The last 15 bytes may begin a marker that ends in bytes not read yet.
            scan = scan.max(self.window.end().saturating_sub(SYNC_LEN as u64 - 1));
            if !self.window.fill_more()? {
                return Ok(None);
            }
        }
    }

    /// The block whose header is at `start`, if its data ends at `end` (both buffered).
    fn ends_at(&self, start: u64, end: u64) -> Option<Frame> {
        let (count, size, header) = block_header(self.window.slice(start..end)).ok()?;
        let (count, len) = (u64::try_from(count).ok()?, u64::try_from(size).ok()?);
        let data = start + header;
        (data.checked_add(len)? == end).then(|| Frame {
            count,
            data: data..end,
            end: end + SYNC_LEN as u64,
        })
    }

    /// The records of the blocks skipped from `start` to `resume`, when their headers chain
    /// exactly from one to the other (only their markers were damaged, so their counts are
    /// credible); `None` when the skipped bytes cannot be accounted for.
    fn lost_between(&self, start: u64, resume: u64) -> Option<u64> {
        let (mut at, mut lost) = (start, 0u64);
        while at < resume {
            let (count, size, header) = block_header(self.window.slice(at..resume)).ok()?;
            let (count, len) = (u64::try_from(count).ok()?, u64::try_from(size).ok()?);
            let end = (at + header)
                .checked_add(len)?
                .checked_add(SYNC_LEN as u64)?;
            if end > resume {
                return None;
            }
            lost = lost.checked_add(count)?;
            at = end;
        }
        (at == resume).then_some(lost)
    }
}

impl<R: BufRead> Iterator for OcfReader<R> {
    type Item = Result<(Position, DecodedEvent), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut out = DecodedEvent::default();
        self.read_next(&mut out).map(|r| r.map(|at| (at, out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflate_blocks_inflate_exactly_and_bombs_stop_at_the_limit() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let deflated = miniz_oxide::deflate::compress_to_vec(&data, 6);
        assert_eq!(inflate(&deflated, data.len()).unwrap(), data);
        let e = inflate(&deflated, data.len() - 1).unwrap_err();
        assert_eq!(
            e,
            format!("the block inflates to more than {} bytes", data.len() - 1)
        );
        let e = inflate(&deflated[..deflated.len() / 2], data.len()).unwrap_err();
        assert!(e.contains("cannot be inflated"), "{e}");
        let zeros = miniz_oxide::deflate::compress_to_vec(&vec![0u8; 10 << 20], 9);
        let e = inflate(&zeros, 1 << 20).unwrap_err();
        assert!(e.contains("more than 1048576 bytes"), "{e}");
        assert!(inflate(b"\xff\xff\xff", 1000).is_err(), "not deflate data");
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let bomb = read_bounded(std::io::repeat(0), "zstandard", 1000).unwrap_err();
        assert_eq!(bomb, "the block inflates to more than 1000 bytes");
        assert_eq!(
            read_bounded(&[1u8; 1000][..], "xz", 1000).unwrap().len(),
            1000
        );
    }

    #[test]
    fn snappy_blocks_are_checked_against_their_crc() {
        let data = b"a record, another record".repeat(10);
        let mut block = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        block.extend_from_slice(&crc32fast::hash(&data).to_be_bytes());
        assert_eq!(Codec::Snappy.decompress(&block).unwrap(), data);
        *block.last_mut().unwrap() ^= 1;
        let e = Codec::Snappy.decompress(&block).unwrap_err();
        assert!(e.contains("CRC-32"), "{e}");
        // A block claiming more than the limit is refused before anything is allocated.
        let mut huge = Vec::new();
        let mut n = MAX_INFLATED_BLOCK as u64 + 1;
        while n >= 0x80 {
            huge.push(n as u8 | 0x80);
            n >>= 7;
        }
        huge.extend_from_slice(&[n as u8, 0, 0, 0, 0, 0]);
        let e = Codec::Snappy.decompress(&huge).unwrap_err();
        assert!(e.contains("inflates to more than"), "{e}");
    }

    #[test]
    fn reads_zigzag_varints() {
        let mut pos = 0;
        assert_eq!(read_long(&[0x01], &mut pos), Some(-1));
        pos = 0;
        assert_eq!(read_long(&[0x96, 0x01], &mut pos), Some(75));
        assert_eq!(pos, 2);
        pos = 0;
        assert_eq!(read_long(&[0x80], &mut pos), None, "truncated");
        pos = 0;
        assert_eq!(read_long(&[0xff; 11], &mut pos), None, "too long");
    }
}
