//! Zip bombs for the tests of hostile imports: archives of a few hundred
//! kilobytes whose entries decompress to hundreds of megabytes, made in
//! milliseconds (compressing that many zeros would take the tests
//! seconds), with declared sizes that may lie.
//!
//! How: one mebibyte of zeros is compressed once, ending with a sync
//! flush, so the piece ends on a byte boundary and refers to nothing
//! before itself; repeating it N times is a valid deflate stream of N MiB
//! of zeros, closed by an empty final block.

const MIB: usize = 1024 * 1024;

/// One entry of a bomb.
#[derive(Debug, Clone)]
pub struct BombEntry {
    /// Its name in the archive.
    pub name: String,
    /// MiB of zeros it decompresses to.
    pub mebibytes: usize,
    /// The uncompressed size its headers declare (may lie); `None`: the
    /// true size.
    pub declared_size: Option<u32>,
}

impl BombEntry {
    /// An honest entry of `mebibytes` MiB of zeros.
    pub fn zeros(name: &str, mebibytes: usize) -> BombEntry {
        BombEntry { name: name.to_owned(), mebibytes, declared_size: None }
    }

    /// An entry of `mebibytes` MiB of zeros that claims to hold `declared` bytes.
    pub fn lying(name: &str, mebibytes: usize, declared: u32) -> BombEntry {
        BombEntry { name: name.to_owned(), mebibytes, declared_size: Some(declared) }
    }
}

/// A deflate piece that decompresses to one MiB of zeros.
fn mebibyte_of_zeros() -> Vec<u8> {
    let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
    let zeros = vec![0u8; MIB];
    let mut out = Vec::with_capacity(MIB);
    compress.compress_vec(&zeros, &mut out, flate2::FlushCompress::Sync).expect("deflate");
    assert_eq!(compress.total_in(), MIB as u64, "the buffer holds the whole compressed piece");
    out
}

/// The CRC-32 of `mebibytes` MiB of zeros.
fn crc_of_zeros(mebibytes: usize) -> u32 {
    let zeros = vec![0u8; MIB];
    let mut hasher = crc32fast::Hasher::new();
    for _ in 0..mebibytes {
        hasher.update(&zeros);
    }
    hasher.finalize()
}

/// A zip of `entries` (deflated zeros, with true checksums: an entry
/// read to its end is only refused for what it holds).
pub fn zip_bomb(entries: &[BombEntry]) -> Vec<u8> {
    // An empty final fixed-Huffman block: BFINAL=1, BTYPE=01, end of block.
    const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];
    let piece = mebibyte_of_zeros();
    let mut zip = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = u32::try_from(zip.len()).expect("a bomb under 4 GiB");
        let compressed = u32::try_from(piece.len() * entry.mebibytes + FINAL_BLOCK.len()).expect("small");
        let size = entry.declared_size.unwrap_or_else(|| u32::try_from(entry.mebibytes * MIB).unwrap_or(u32::MAX));
        let name = entry.name.as_bytes();
        let name_length = u16::try_from(name.len()).expect("a short name");
        let crc = crc_of_zeros(entry.mebibytes);
        // Local file header.
        zip.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        zip.extend_from_slice(&20u16.to_le_bytes());
        zip.extend_from_slice(&0u16.to_le_bytes());
        zip.extend_from_slice(&8u16.to_le_bytes());
        zip.extend_from_slice(&[0, 0, 0x21, 0]);
        zip.extend_from_slice(&crc.to_le_bytes());
        zip.extend_from_slice(&compressed.to_le_bytes());
        zip.extend_from_slice(&size.to_le_bytes());
        zip.extend_from_slice(&name_length.to_le_bytes());
        zip.extend_from_slice(&0u16.to_le_bytes());
        zip.extend_from_slice(name);
        for _ in 0..entry.mebibytes {
            zip.extend_from_slice(&piece);
        }
        zip.extend_from_slice(&FINAL_BLOCK);
        // Its central directory header.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&8u16.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&compressed.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_length.to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let directory_start = u32::try_from(zip.len()).expect("a bomb under 4 GiB");
    let directory_size = u32::try_from(central.len()).expect("small");
    let count = u16::try_from(entries.len()).expect("few entries");
    zip.extend_from_slice(&central);
    zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    zip.extend_from_slice(&[0; 4]);
    zip.extend_from_slice(&count.to_le_bytes());
    zip.extend_from_slice(&count.to_le_bytes());
    zip.extend_from_slice(&directory_size.to_le_bytes());
    zip.extend_from_slice(&directory_start.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    zip
}
