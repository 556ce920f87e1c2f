//! Self-describing file versions for crash tests: a header naming the
//! file, generation and length, then bytes derived from all three, so a
//! reader can tell a complete version from a truncated or mixed one
//! without knowing what was written.

/// The contents of generation `generation` of file `f{file}.bin`, `len`
/// bytes long.
pub fn version(file: usize, generation: u64, len: usize) -> Vec<u8> {
    let mut content = format!("bytesbox-version file={file} gen={generation} len={len}\n").into_bytes();
    let mut state = generation ^ ((file as u64 + 1) << 56) ^ 0x9e37_79b9_7f4a_7c15;
    while content.len() < len {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        content.extend_from_slice(&state.to_le_bytes());
    }
    content.truncate(len);
    content
}

/// Checks that `content`, read from `path`, is exactly one complete
/// [`version`] of that file.
pub fn check_version(path: &str, content: &[u8]) -> Result<(), String> {
    let header_end = content.iter().position(|&b| b == b'\n').ok_or_else(|| format!("{path}: no header"))?;
    let header = std::str::from_utf8(&content[..header_end]).map_err(|_| format!("{path}: header is not text"))?;
    let field = |name: &str| -> Result<u64, String> {
        header
            .split(' ')
            .find_map(|field| field.strip_prefix(name))
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| format!("{path}: header {header:?} has no {name}"))
    };
    let (file, generation, len) = (field("file=")?, field("gen=")?, field("len=")?);
    if format!("f{file}.bin") != path {
        return Err(format!("{path}: holds file {file}'s contents"));
    }
    let (Ok(file), Ok(len)) = (usize::try_from(file), usize::try_from(len)) else {
        return Err(format!("{path}: header {header:?} is out of range"));
    };
    if content != version(file, generation, len).as_slice() {
        return Err(format!("{path}: {} bytes are not generation {generation}'s {len} bytes", content.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_versions_pass_and_damaged_ones_do_not() {
        let content = version(2, 7, 5000);
        assert_eq!(content.len(), 5000);
        assert_eq!(check_version("f2.bin", &content), Ok(()));
        assert!(check_version("f2.bin", &content[..4000]).is_err(), "truncated");
        assert!(check_version("f1.bin", &content).is_err(), "another file's contents");
        let mut mixed = content.clone();
        mixed[4000..].copy_from_slice(&version(2, 8, 5000)[4000..]);
        assert!(check_version("f2.bin", &mixed).is_err(), "two versions mixed");
    }
}
