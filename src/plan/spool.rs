//! Stdin read once into a temporary spool, so every run of a job reads the same word list.
//!
//! Stdin can be read only once, but `--mode both` (or a sweep) reads the ids once per run. Small
//! input stays in memory; past [`IN_MEMORY`] bytes the spool rolls over to an unnamed temporary
//! file (which the OS deletes however the process ends), so `seq 1 10000000 | fetchbench --ids -`
//! costs disk, not memory. The bytes are copied as they are: the word-list reader then reads the
//! spool exactly as it would have read stdin.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use tempfile::SpooledTempFile;
use thiserror::Error;

/// Input up to this size is kept in memory; beyond it, on disk.
pub const IN_MEMORY: usize = 1024 * 1024;

/// Why the spool could not be written.
#[derive(Debug, Error)]
#[error("cannot spool stdin to a temporary file: {0}")]
pub struct SpoolError(#[from] io::Error);

/// The bytes of an input, readable from the start any number of times.
#[derive(Debug, Clone)]
pub struct Spool {
    // One file shared by the readers, each with its own position (a reader seeks before it reads).
    file: Arc<Mutex<SpooledTempFile>>,
}

impl Spool {
    /// Copies `source` to its end into a new spool, streaming.
    ///
    /// A read error ends the input, with a warning, as it ends a word list read directly; the
    /// partial line before it is dropped, as that reader drops it. Only a write error (a full
    /// disk) fails.
    pub fn fill(mut source: impl Read) -> Result<Self, SpoolError> {
        let mut file = SpooledTempFile::new(IN_MEMORY);
        let mut buf = vec![0; 64 * 1024];
        let (mut written, mut whole_lines) = (0u64, 0u64);
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("fetchbench: warning: --ids: stopped reading stdin: {e}");
                    file.set_len(whole_lines)?;
                    break;
                }
            };
            file.write_all(&buf[..n])?;
            if let Some(last) = buf[..n].iter().rposition(|&b| b == b'\n') {
                whole_lines = written + last as u64 + 1;
            }
            written += n as u64;
        }
        Ok(Self {
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// A reader from the start of the spool.
    pub fn reader(&self) -> SpoolReader {
        SpoolReader {
            file: Arc::clone(&self.file),
            position: 0,
        }
    }

    #[cfg(test)]
    /// True once the input outgrew memory and went to a file.
    pub fn on_disk(&self) -> bool {
        self.file.lock().is_ok_and(|file| file.is_rolled())
    }
}

/// Reads a [`Spool`] from the start, independently of its other readers.
#[derive(Debug)]
pub struct SpoolReader {
    file: Arc<Mutex<SpooledTempFile>>,
    position: u64,
}

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| io::Error::other("the stdin spool's lock is poisoned"))?;
        file.seek(SeekFrom::Start(self.position))?;
        let n = file.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(spool: &Spool) -> Vec<u8> {
        let mut bytes = Vec::new();
        spool.reader().read_to_end(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn every_reader_reads_everything_from_the_start() {
        let spool = Spool::fill("a\n\n# c\n b \n".as_bytes()).unwrap();
        let (mut first, mut second) = (spool.reader(), spool.reader());
        let mut half = [0; 3];
        first.read_exact(&mut half).unwrap();
        assert_eq!(contents(&spool), b"a\n\n# c\n b \n");
        let mut rest = Vec::new();
        second.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"a\n\n# c\n b \n", "a reader is not moved by another");
        rest.clear();
        first.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"# c\n b \n");
        assert!(!spool.on_disk());
    }

    #[test]
    fn large_input_goes_to_disk_and_reads_back_whole() {
        let text: String = (0..200_000).map(|n| format!("{n}\n")).collect();
        assert!(text.len() > IN_MEMORY);
        let spool = Spool::fill(text.as_bytes()).unwrap();
        assert!(spool.on_disk());
        assert_eq!(contents(&spool), text.as_bytes());
        assert_eq!(contents(&spool), text.as_bytes(), "and again");
    }

    /// Gives `data`, then fails.
    struct Failing<'a>(&'a [u8]);

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("gone"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_keeps_the_whole_lines_before_it() {
        let spool = Spool::fill(Failing(b"1\n2\npart")).unwrap();
        assert_eq!(contents(&spool), b"1\n2\n");
        let spool = Spool::fill(Failing(b"part")).unwrap();
        assert_eq!(contents(&spool), b"");
    }
}
