//! Zip export of a project, streamed: the archive is produced entry by
//! entry while it is sent, each object read as a stream, so an export
//! holds a few chunks whatever the project's size.
//!
//! The `zip` crate's writer seeks back to fill in each entry's sizes and
//! checksum, which a stream cannot do; [`ZipStreamWriter`] writes the
//! format forward only instead: each local header says "sizes follow"
//! (general purpose flag bit 3) and a data descriptor after the data
//! carries them, as zip streamers do (APPNOTE 4.3.9). Offsets past 4 GiB
//! or more than 65 535 entries use the ZIP64 end records; a single file
//! of 4 GiB or more is refused (no plan stores one).

use std::io::Write as _;

use bytes::{Bytes, BytesMut};
use flate2::write::DeflateEncoder;
use flate2::Compression;
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt as _, TryStreamExt as _};
use tokio::sync::mpsc;

use crate::model::{ProjectId, UserId};
use crate::project_files::{FilesError, ProjectFiles};

/// Decompressed bytes gathered before one round of deflating (on a
/// blocking thread), and so roughly what one chunk of output carries.
const DEFLATE_BATCH_BYTES: usize = 256 * 1024;

/// Chunks of output waiting for the client.
const CHUNKS_IN_FLIGHT: usize = 4;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_END_LOCATOR: u32 = 0x0706_4b50;
/// Sizes in a data descriptor (bit 3) and a UTF-8 name (bit 11).
const FLAGS: u16 = 0x0008 | 0x0800;
const DEFLATED: u16 = 8;
/// 2.0: deflate; 4.5: ZIP64.
const VERSION_NEEDED: u16 = 20;
const VERSION_NEEDED_ZIP64: u16 = 45;
/// Made by Unix (3), spec 3.0: the external attributes are a mode.
const VERSION_MADE_BY: u16 = (3 << 8) | 30;
/// A regular file, mode 0644.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;
/// 1980-01-01 00:00, the earliest MS-DOS date (what the `zip` crate's
/// writer used by default too).
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

/// One entry as the central directory describes it.
#[derive(Debug)]
struct Written {
    name: String,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

/// The entry being written.
#[derive(Debug)]
struct Current {
    name: String,
    offset: u64,
    crc: crc32fast::Hasher,
    uncompressed: u64,
    compressed: u64,
    encoder: DeflateEncoder<Vec<u8>>,
}

/// A zip written forward only into an output buffer that the caller
/// takes as it fills ([`ZipStreamWriter::take_output`]).
#[derive(Debug, Default)]
pub struct ZipStreamWriter {
    output: BytesMut,
    /// Bytes produced so far (taken or not): the next entry's offset.
    offset: u64,
    written: Vec<Written>,
    current: Option<Current>,
}

impl ZipStreamWriter {
    /// An empty archive.
    pub fn new() -> ZipStreamWriter {
        ZipStreamWriter::default()
    }

    fn put(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
        self.offset += bytes.len() as u64;
    }

    fn put_u16(&mut self, value: u16) {
        self.put(&value.to_le_bytes());
    }

    fn put_u32(&mut self, value: u32) {
        self.put(&value.to_le_bytes());
    }

    fn put_u64(&mut self, value: u64) {
        self.put(&value.to_le_bytes());
    }

    /// Begins a file (deflated); ends the one before if it is open.
    pub fn start_file(&mut self, name: &str) -> std::io::Result<()> {
        self.end_file()?;
        let name_length = u16::try_from(name.len()).map_err(|_| std::io::Error::other("a file name is too long"))?;
        let offset = self.offset;
        self.put_u32(LOCAL_HEADER);
        self.put_u16(VERSION_NEEDED);
        self.put_u16(FLAGS);
        self.put_u16(DEFLATED);
        self.put_u16(DOS_TIME);
        self.put_u16(DOS_DATE);
        // Checksum and sizes: in the data descriptor.
        self.put(&[0; 12]);
        self.put_u16(name_length);
        self.put_u16(0);
        self.put(name.as_bytes());
        self.current = Some(Current {
            name: name.to_owned(),
            offset,
            crc: crc32fast::Hasher::new(),
            uncompressed: 0,
            compressed: 0,
            encoder: DeflateEncoder::new(Vec::new(), Compression::default()),
        });
        Ok(())
    }

    /// Appends to the open file (CPU-bound: call it on a blocking thread
    /// for large amounts).
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let Some(current) = &mut self.current else {
            return Err(std::io::Error::other("no file is open"));
        };
        current.crc.update(data);
        current.uncompressed += data.len() as u64;
        if current.uncompressed >= u64::from(u32::MAX) {
            return Err(std::io::Error::other(format!("{:?} is too large to export (4 GiB or more)", current.name)));
        }
        current.encoder.write_all(data)?;
        let deflated = std::mem::take(current.encoder.get_mut());
        current.compressed += deflated.len() as u64;
        self.put(&deflated);
        Ok(())
    }

    /// Ends the open file, if any, with its data descriptor.
    pub fn end_file(&mut self) -> std::io::Result<()> {
        let Some(mut current) = self.current.take() else {
            return Ok(());
        };
        let rest = current.encoder.finish()?;
        current.compressed += rest.len() as u64;
        self.put(&rest);
        let crc = current.crc.finalize();
        let sizes = (u32::try_from(current.compressed), u32::try_from(current.uncompressed));
        let (Ok(compressed), Ok(uncompressed)) = sizes else {
            return Err(std::io::Error::other(format!("{:?} is too large to export (4 GiB or more)", current.name)));
        };
        self.put_u32(DATA_DESCRIPTOR);
        self.put_u32(crc);
        self.put_u32(compressed);
        self.put_u32(uncompressed);
        self.written.push(Written {
            name: current.name,
            crc,
            compressed: current.compressed,
            uncompressed: current.uncompressed,
            offset: current.offset,
        });
        Ok(())
    }

    /// Ends the open file and writes the central directory and its end
    /// records.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.end_file()?;
        let directory_start = self.offset;
        let written = std::mem::take(&mut self.written);
        for entry in &written {
            self.put_central_header(entry);
        }
        let directory_size = self.offset - directory_start;
        let entries = written.len() as u64;
        let zip64 = entries >= 0xffff || directory_start >= 0xffff_ffff || directory_size >= 0xffff_ffff;
        if zip64 {
            let record_start = self.offset;
            self.put_u32(ZIP64_END_OF_CENTRAL_DIRECTORY);
            // The record's size after this field.
            self.put_u64(44);
            self.put_u16(VERSION_MADE_BY);
            self.put_u16(VERSION_NEEDED_ZIP64);
            self.put_u32(0);
            self.put_u32(0);
            self.put_u64(entries);
            self.put_u64(entries);
            self.put_u64(directory_size);
            self.put_u64(directory_start);
            self.put_u32(ZIP64_END_LOCATOR);
            self.put_u32(0);
            self.put_u64(record_start);
            self.put_u32(1);
        }
        let entries16 = if zip64 { 0xffff } else { entries as u16 };
        self.put_u32(END_OF_CENTRAL_DIRECTORY);
        self.put_u16(0);
        self.put_u16(0);
        self.put_u16(entries16);
        self.put_u16(entries16);
        self.put_u32(u32::try_from(directory_size).unwrap_or(u32::MAX));
        self.put_u32(u32::try_from(directory_start).unwrap_or(u32::MAX));
        self.put_u16(0);
        Ok(())
    }

    fn put_central_header(&mut self, entry: &Written) {
        // Sizes are under 4 GiB (`write` refuses more); the offset may
        // not be, and then goes in a ZIP64 extra field.
        let offset32 = u32::try_from(entry.offset).ok().filter(|&offset| offset != u32::MAX);
        let extra_length: u16 = if offset32.is_some() { 0 } else { 12 };
        self.put_u32(CENTRAL_HEADER);
        self.put_u16(VERSION_MADE_BY);
        self.put_u16(if offset32.is_some() { VERSION_NEEDED } else { VERSION_NEEDED_ZIP64 });
        self.put_u16(FLAGS);
        self.put_u16(DEFLATED);
        self.put_u16(DOS_TIME);
        self.put_u16(DOS_DATE);
        self.put_u32(entry.crc);
        self.put_u32(entry.compressed as u32);
        self.put_u32(entry.uncompressed as u32);
        // The name's length was checked by `start_file`.
        self.put_u16(entry.name.len() as u16);
        self.put_u16(extra_length);
        // Comment length, disk number, internal attributes.
        self.put_u16(0);
        self.put_u16(0);
        self.put_u16(0);
        self.put_u32(EXTERNAL_ATTRIBUTES);
        self.put_u32(offset32.unwrap_or(u32::MAX));
        self.put(entry.name.as_bytes());
        if offset32.is_none() {
            self.put_u16(0x0001);
            self.put_u16(8);
            self.put_u64(entry.offset);
        }
    }

    /// The output produced since the last call.
    pub fn take_output(&mut self) -> Bytes {
        self.output.split().freeze()
    }
}

/// A zip archive as a stream of chunks; an error ends it (the response
/// is then cut short, so the client sees a broken download, never a
/// truncated archive that looks whole).
pub type ZipStream = BoxStream<'static, Result<Bytes, FilesError>>;

impl ProjectFiles {
    /// A zip of the project's files, produced while it is read: the
    /// project is looked up (an error here comes before any byte), then
    /// each file's object is read as a stream and deflated on a blocking
    /// thread a batch at a time, with at most a few chunks waiting for
    /// the reader. Dropping the stream stops the work.
    pub async fn export_zip_stream(&self, owner: &UserId, project: &ProjectId) -> Result<ZipStream, FilesError> {
        let files = self.store().list_files(owner, project).await?;
        let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let this = self.clone();
        let (owner, project) = (owner.clone(), project.clone());
        tokio::spawn(async move {
            if let Err(error) = this.produce_zip(&owner, &project, files, &sender).await {
                // Nobody to tell if the reader is gone.
                let _ = sender.send(Err(error)).await;
            }
        });
        let chunks =
            stream::unfold(
                receiver,
                |mut receiver| async move { receiver.recv().await.map(|chunk| (chunk, receiver)) },
            );
        Ok(chunks.boxed())
    }

    /// A zip of the project's files, whole in memory (tests and small
    /// projects: the server streams with [`ProjectFiles::export_zip_stream`]).
    pub async fn export_zip(&self, owner: &UserId, project: &ProjectId) -> Result<Vec<u8>, FilesError> {
        let chunks: Vec<Bytes> = self.export_zip_stream(owner, project).await?.try_collect().await?;
        Ok(chunks.concat())
    }

    async fn produce_zip(
        &self,
        owner: &UserId,
        project: &ProjectId,
        files: Vec<crate::model::FileEntry>,
        sender: &mpsc::Sender<Result<Bytes, FilesError>>,
    ) -> Result<(), FilesError> {
        let mut zip = ZipStreamWriter::new();
        let stopped = || FilesError::Io(std::io::Error::other("the export's reader is gone"));
        for file in files {
            let (entry, mut chunks) = self.open_current(owner, project, file).await?;
            zip.start_file(&entry.path)?;
            let mut batch = BytesMut::new();
            loop {
                let chunk = chunks.try_next().await?;
                if let Some(chunk) = &chunk {
                    batch.extend_from_slice(chunk);
                }
                if batch.len() >= DEFLATE_BATCH_BYTES || (chunk.is_none() && !batch.is_empty()) {
                    let data = batch.split().freeze();
                    zip = deflate_on_blocking_thread(zip, data).await?;
                    let output = zip.take_output();
                    if !output.is_empty() {
                        sender.send(Ok(output)).await.map_err(|_| stopped())?;
                    }
                }
                if chunk.is_none() {
                    break;
                }
            }
        }
        zip.finish()?;
        sender.send(Ok(zip.take_output())).await.map_err(|_| stopped())?;
        Ok(())
    }
}

async fn deflate_on_blocking_thread(mut zip: ZipStreamWriter, data: Bytes) -> Result<ZipStreamWriter, FilesError> {
    tokio::task::spawn_blocking(move || zip.write(&data).map(|()| zip))
        .await
        .map_err(|error| FilesError::Io(std::io::Error::other(error)))?
        .map_err(FilesError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = ZipStreamWriter::new();
        let mut out = Vec::new();
        for (name, content) in files {
            zip.start_file(name).unwrap();
            for piece in content.chunks(1000) {
                zip.write(piece).unwrap();
                out.extend_from_slice(&zip.take_output());
            }
        }
        zip.finish().unwrap();
        out.extend_from_slice(&zip.take_output());
        out
    }

    #[test]
    fn the_zip_crate_reads_what_the_stream_writer_writes() {
        let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let files: [(&str, &[u8]); 4] =
            [("main.py", b"print(1)\n"), ("empty", b""), ("src/\u{e9}t\u{e9}.bin", &binary), ("z", b"z")];
        let archive = archive_of(&files);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
        assert_eq!(zip.len(), files.len());
        for (index, (name, content)) in files.iter().enumerate() {
            let mut entry = zip.by_index(index).unwrap();
            assert_eq!(entry.name(), *name);
            assert_eq!(entry.unix_mode(), Some(0o100_644));
            let mut read = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut read).unwrap();
            assert_eq!(&read[..], *content, "{name}");
        }
    }

    #[test]
    fn an_empty_project_is_an_empty_archive() {
        let archive = archive_of(&[]);
        assert_eq!(zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap().len(), 0);
    }
}
