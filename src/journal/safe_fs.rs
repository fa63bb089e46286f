//! The data dir is hostile territory: the agent runs as the same user and can plant symlinks,
//! directories or FIFOs where our files go (a segment symlinked to `~/.vault-token` would get
//! records appended, and its bytes copied into a repair record). So the journal directory is
//! checked (a real directory, ours, not writable by others), opened once, and every file in it is
//! opened relative to that descriptor with `O_NOFOLLOW` and checked to be a regular file.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

/// Creates `dir` (0700) if needed and refuses it unless it is a directory (not a symlink) owned
/// by us and not writable by group or others.
pub fn check_dir(dir: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let m = std::fs::symlink_metadata(dir)?;
    let unsafe_dir = |why: String| io::Error::new(io::ErrorKind::PermissionDenied, format!("{}: {why}; refusing to write there", dir.display()));
    if !m.file_type().is_dir() {
        return Err(unsafe_dir("not a directory (a symlink or a file)".into()));
    }
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me {
        return Err(unsafe_dir(format!("owned by uid {}, not by us (uid {me})", m.uid())));
    }
    if m.mode() & 0o022 != 0 {
        return Err(unsafe_dir(format!("writable by others (mode {:o})", m.mode() & 0o7777)));
    }
    Ok(())
}

/// An open directory; files are opened relative to it, never through a symlink.
pub struct DirFd {
    fd: OwnedFd,
}

fn cstr(name: &str) -> io::Result<CString> {
    if name.contains('/') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a name, not a path"));
    }
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

impl DirFd {
    /// Opens a checked directory (`O_NOFOLLOW`: a symlink swapped in after the check fails).
    pub fn open(dir: &Path) -> io::Result<DirFd> {
        let c = CString::new(dir.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: a valid NUL-terminated path; the result is checked.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor we just opened and own.
        Ok(DirFd { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Opens `name` in this directory with `flags` (plus `O_NOFOLLOW | O_CLOEXEC`); the result
    /// must be a regular file. `O_NONBLOCK` keeps a planted FIFO from blocking the open.
    pub fn open_file(&self, name: &str, flags: i32, mode: u32) -> io::Result<File> {
        let c = cstr(name)?;
        // SAFETY: a valid directory descriptor and NUL-terminated name; the result is checked.
        let fd = unsafe { libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK, mode as libc::c_uint) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ELOOP) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{name} is a symlink")));
            }
            return Err(e);
        }
        // SAFETY: a descriptor we just opened and own.
        let f = unsafe { File::from_raw_fd(fd) };
        let m = f.metadata()?;
        if !m.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{name} is not a regular file")));
        }
        // Back to blocking mode for ordinary I/O on a regular file.
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
        Ok(f)
    }

    /// The kind of entry `name` is, without following it (`None`: absent).
    pub fn entry_kind(&self, name: &str) -> io::Result<Option<EntryKind>> {
        let c = cstr(name)?;
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid descriptor, name and stat buffer.
        let rc = unsafe { libc::fstatat(self.fd.as_raw_fd(), c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::NotFound { Ok(None) } else { Err(e) };
        }
        Ok(Some(match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => EntryKind::File,
            libc::S_IFLNK => EntryKind::Symlink,
            libc::S_IFDIR => EntryKind::Directory,
            _ => EntryKind::Other,
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Symlink,
    Directory,
    Other,
}

impl EntryKind {
    pub fn describe(self) -> &'static str {
        match self {
            EntryKind::File => "a regular file",
            EntryKind::Symlink => "a symlink",
            EntryKind::Directory => "a directory",
            EntryKind::Other => "a FIFO, socket or device",
        }
    }
}
