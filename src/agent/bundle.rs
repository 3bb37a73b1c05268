//! The agent's commits as the agent's step hands them to `publish`: a git bundle
//! (version 2, `git bundle create`), read by agentpods itself, never given to git as a
//! path. The agent's container can write the folder it is in, so the file is the agent's
//! word: opened without following a link, only a plain file, its header parsed here
//! (bounded), and only its pack given to git, on stdin, to `index-pack --strict` — which
//! checks every object as git checks what a remote sends. Given a path, git would take a
//! file that is not a bundle for a repository (`gitdir: …`) and run `upload-pack` in it
//! (review 11g, C1); and `fetch` from a bundle checks no object in the git of the agent
//! image (2.39: review 11g, C3).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::task::commit_sha;
use crate::github::event::CommitSha;

/// The first line of a version-2 bundle.
const SIGNATURE: &str = "# v2 git bundle\n";
/// The most bytes of header read: a bundle the agent's step writes names HEAD and the
/// commits it builds on, a few lines.
const HEADER_LIMIT: u64 = 1024 * 1024;

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("cannot open the agent's bundle {path}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the agent's bundle {path} is not a plain file")]
    NotAFile { path: PathBuf },
    #[error("the agent's bundle {path} is not a git bundle of version 2: {reason}")]
    Malformed { path: PathBuf, reason: &'static str },
}

/// A bundle, its header read: the commit its HEAD names, and the file at its pack.
#[derive(Debug)]
pub struct Bundle {
    pub head: CommitSha,
    pub pack: File,
}

/// Opens the bundle at `path` (not through a link) and reads its header.
pub fn open(path: &Path) -> Result<Bundle, BundleError> {
    let io = |source| BundleError::Open {
        path: path.to_path_buf(),
        source,
    };
    let malformed = |reason| BundleError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    // Not blocking on a FIFO, nor following a link to a file of publish's (the token).
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => BundleError::NotAFile {
                path: path.to_path_buf(),
            },
            _ => io(e),
        })?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(BundleError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut reader = BufReader::new((&file).take(HEADER_LIMIT));
    let mut line = Vec::new();
    let mut read = |line: &mut Vec<u8>| -> Result<u64, BundleError> {
        line.clear();
        let n = reader.read_until(b'\n', line).map_err(io)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Err(malformed("its header does not end"));
        }
        Ok(n as u64)
    };
    let mut offset = read(&mut line)?;
    if line != SIGNATURE.as_bytes() {
        return Err(malformed("it does not start `# v2 git bundle`"));
    }
    let mut head = None;
    loop {
        offset += read(&mut line)?;
        let text = std::str::from_utf8(&line[..line.len() - 1])
            .map_err(|_| malformed("a header line is not text"))?;
        if text.is_empty() {
            break;
        }
        // `-SHA comment`: a commit it builds on; `SHA REF`: a ref it carries.
        let (sha, rest) = text
            .strip_prefix('-')
            .unwrap_or(text)
            .split_at_checked(40)
            .ok_or(malformed("a header line does not start with a commit id"))?;
        let sha = commit_sha(sha).map_err(|_| malformed("a header line's commit id is not one"))?;
        if !text.starts_with('-') && rest == " HEAD" {
            head = Some(sha);
        }
    }
    let head = head.ok_or(malformed("it carries no HEAD"))?;
    let mut pack = file;
    pack.seek(SeekFrom::Start(offset)).map_err(io)?;
    Ok(Bundle { head, pack })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn bundle(dir: &Path, bytes: &[u8]) -> Result<Bundle, BundleError> {
        let path = dir.join("changes.bundle");
        std::fs::write(&path, bytes).unwrap();
        open(&path)
    }

    #[test]
    fn a_bundle_s_header_names_its_head_and_leaves_the_file_at_its_pack() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{SIGNATURE}-{SHA} base\n{SHA} refs/tags/v1\n{SHA} HEAD\n\nPACK...");
        let mut found = bundle(dir.path(), text.as_bytes()).unwrap();
        assert_eq!(found.head.as_str(), SHA);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut found.pack, &mut rest).unwrap();
        assert_eq!(rest, "PACK...");
    }

    #[test]
    fn what_is_not_a_version_2_bundle_is_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        for (bytes, why) in [
            (
                format!("gitdir: {}\n", dir.path().display()),
                "does not start",
            ),
            (
                "# v3 git bundle\n@filter=blob:none\n\n".to_string(),
                "does not start",
            ),
            (
                format!("{SIGNATURE}{SHA} refs/heads/x\n\nPACK"),
                "carries no HEAD",
            ),
            (format!("{SIGNATURE}{SHA} HEAD\n"), "does not end"),
            (
                format!("{SIGNATURE}xyz HEAD\n\n"),
                "does not start with a commit id",
            ),
            (
                format!("{SIGNATURE}{}{SHA} HEAD\n\n", "-".repeat(2_000_000)),
                "does not end",
            ),
        ] {
            let e = bundle(dir.path(), bytes.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn a_link_or_a_fifo_in_its_place_is_not_a_plain_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("token");
        std::fs::write(&target, format!("{SIGNATURE}{SHA} HEAD\n\n")).unwrap();
        let path = dir.path().join("changes.bundle");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(open(&path), Err(BundleError::NotAFile { .. })));
        std::fs::remove_file(&path).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        assert!(matches!(open(&path), Err(BundleError::NotAFile { .. })));
    }
}
