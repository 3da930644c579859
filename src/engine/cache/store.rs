//! The cache's files: one per entry, named by the SHA-256 of its key, under 256 subdirectories
//! (`v1/ab/ab12…`), so 100,000 entries make about 400 files a directory.
//!
//! An entry is written to a temporary file in its own directory and renamed over its name, so a
//! reader sees the old entry, the new one or none, never half of one. Every file starts with a
//! header holding its key's digest, the lengths of its two parts and a SHA-256 of everything
//! after the checksum: a file that does not verify (cut short by a crash or a full disk, torn by
//! a power loss before the data reached the disk, edited by hand) is rejected as corrupt and
//! never served. That check is also why nothing is fsynced: what a power loss can tear, the
//! checksum catches, and a run is not slowed by a sync per entry.
//!
//! Temporary files of a process killed between write and rename stay behind (`.tmp…`, never read
//! as entries); deleting the directory empties the cache.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ring::digest::{digest, Context, SHA256, SHA256_OUTPUT_LEN};

/// The first bytes of every entry file; a new layout gets a new magic and a new `v` directory.
const MAGIC: &[u8; 8] = b"fbcache1";
/// Magic, key digest, metadata length (u32), body length (u64), checksum.
const HEADER: usize = 8 + SHA256_OUTPUT_LEN + 4 + 8 + SHA256_OUTPUT_LEN;
/// The directory of this layout under the cache's root.
const LAYOUT: &str = "v1";

/// What one entry holds: metadata (the store does not read it) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Raw {
    pub(crate) meta: Vec<u8>,
    pub(crate) body: Bytes,
}

/// Why an entry file was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("the cache entry is corrupt ({0}); it was not used")]
    Corrupt(&'static str),
    #[error("the cache entry could not be read: {0}")]
    Io(#[from] io::Error),
}

/// The directory of a cache and the entries under it.
#[derive(Debug)]
pub(crate) struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the cache at `dir`, creating it if need be; an error when it cannot be created or
    /// written to, so a run never starts with a cache that would fail every store.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        if dir.as_os_str().is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path is empty",
            ));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it exists and is not a directory",
            ));
        }
        let root = dir.join(LAYOUT);
        fs::create_dir_all(&root)?;
        // A read-only directory would otherwise be found only by the first store.
        tempfile::NamedTempFile::new_in(&root)?;
        Ok(Self { root })
    }

    /// The entry of `key`; None when there is none.
    pub(crate) fn read(&self, key: &str) -> Result<Option<Raw>, ReadError> {
        let id = key_digest(key);
        let bytes = match fs::read(self.path(&id)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        verify(&id, bytes).map(Some)
    }

    /// Writes the entry of `key`, replacing any: in full or not at all.
    pub(crate) fn write(&self, key: &str, raw: &Raw) -> io::Result<()> {
        let id = key_digest(key);
        let path = self.path(&id);
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        let meta_len = u32::try_from(raw.meta.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "metadata too large"))?;
        let lengths = lengths(meta_len, raw.body.len() as u64);
        let sum = checksum(&id, &lengths, &raw.meta, &raw.body);
        let file = temp.as_file_mut();
        let mut out = io::BufWriter::new(file);
        out.write_all(MAGIC)?;
        out.write_all(&id)?;
        out.write_all(&lengths)?;
        out.write_all(&sum)?;
        out.write_all(&raw.meta)?;
        out.write_all(&raw.body)?;
        out.flush()?;
        drop(out);
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    fn path(&self, id: &[u8; SHA256_OUTPUT_LEN]) -> PathBuf {
        let name = hex(id);
        self.root.join(&name[..2]).join(name)
    }
}

type Digest = [u8; SHA256_OUTPUT_LEN];

fn key_digest(key: &str) -> Digest {
    let mut id = [0; SHA256_OUTPUT_LEN];
    id.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
    id
}

fn lengths(meta: u32, body: u64) -> [u8; 12] {
    let mut out = [0; 12];
    out[..4].copy_from_slice(&meta.to_le_bytes());
    out[4..].copy_from_slice(&body.to_le_bytes());
    out
}

fn checksum(id: &Digest, lengths: &[u8; 12], meta: &[u8], body: &[u8]) -> Digest {
    let mut context = Context::new(&SHA256);
    for part in [id.as_slice(), lengths, meta, body] {
        context.update(part);
    }
    let mut sum = [0; SHA256_OUTPUT_LEN];
    sum.copy_from_slice(context.finish().as_ref());
    sum
}

/// The entry in `bytes`, if it is whole and is `id`'s.
fn verify(id: &Digest, bytes: Vec<u8>) -> Result<Raw, ReadError> {
    let corrupt = ReadError::Corrupt;
    let Some((header, payload)) = bytes.split_at_checked(HEADER) else {
        return Err(corrupt("shorter than its header"));
    };
    let (magic, rest) = header.split_at(MAGIC.len());
    let (stored_id, rest) = rest.split_at(SHA256_OUTPUT_LEN);
    let (lengths, sum) = rest.split_at(12);
    if magic != MAGIC {
        return Err(corrupt("not an entry of this layout"));
    }
    if stored_id != id {
        return Err(corrupt("another key's entry"));
    }
    // Infallible: the slices have exactly these lengths.
    let lengths: [u8; 12] = lengths.try_into().unwrap_or_default();
    let meta_len = u32::from_le_bytes(lengths[..4].try_into().unwrap_or_default());
    let body_len = u64::from_le_bytes(lengths[4..].try_into().unwrap_or_default());
    if u64::from(meta_len) + body_len != payload.len() as u64 {
        return Err(corrupt("its length is not the one its header says"));
    }
    let (meta, body) = payload.split_at(meta_len as usize);
    if checksum(id, &lengths, meta, body).as_slice() != sum {
        return Err(corrupt("its checksum does not match"));
    }
    Ok(Raw {
        meta: meta.to_vec(),
        body: Bytes::copy_from_slice(body),
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> Raw {
        Raw {
            meta: br#"{"status":200}"#.to_vec(),
            body: Bytes::from_static(b"{\"name\":\"bulbasaur\"}"),
        }
    }

    fn entry_file(store: &Store, key: &str) -> PathBuf {
        store.path(&key_digest(key))
    }

    #[test]
    fn an_entry_reads_back_as_written_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        store.write("http://h/1", &raw()).unwrap();
        assert_eq!(store.read("http://h/1").unwrap(), Some(raw()));
        assert_eq!(store.read("http://h/2").unwrap(), None);
        let replaced = Raw {
            meta: b"{}".to_vec(),
            body: Bytes::new(),
        };
        store.write("http://h/1", &replaced).unwrap();
        assert_eq!(store.read("http://h/1").unwrap(), Some(replaced));
    }

    #[test]
    fn a_cut_short_flipped_or_misplaced_entry_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.write("k", &raw()).unwrap();
        let path = entry_file(&store, "k");
        let whole = fs::read(&path).unwrap();
        for cut in [0, 10, HEADER, whole.len() - 1] {
            fs::write(&path, &whole[..cut]).unwrap();
            assert!(
                matches!(store.read("k"), Err(ReadError::Corrupt(_))),
                "cut at {cut}"
            );
        }
        let mut flipped = whole.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        fs::write(&path, &flipped).unwrap();
        assert!(matches!(store.read("k"), Err(ReadError::Corrupt(_))));
        // Another key's entry under this key's name.
        store.write("other", &raw()).unwrap();
        fs::copy(entry_file(&store, "other"), &path).unwrap();
        assert!(matches!(store.read("k"), Err(ReadError::Corrupt(_))));
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(Store::open(&file).is_err());
        assert!(Store::open(&file.join("below")).is_err());
    }
}
