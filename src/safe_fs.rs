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
pub(crate) fn check_dir(dir: &Path) -> io::Result<()> {
    // One lstat when the directory exists (the usual case); a second only after creating it.
    let m = match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
            std::fs::symlink_metadata(dir)?
        }
        r => r?,
    };
    check_owned_dir(dir, m.file_type().is_dir(), m.uid(), m.mode())
}

/// Refuses a directory that is not one (a symlink or a file), not ours, or writable by others.
fn check_owned_dir(dir: &Path, is_dir: bool, uid: u32, mode: u32) -> io::Result<()> {
    let unsafe_dir = |why: String| {
        io::Error::new(io::ErrorKind::PermissionDenied, format!("{}: {why}; refusing to write there", dir.display()))
    };
    if !is_dir {
        return Err(unsafe_dir("not a directory (a symlink or a file)".into()));
    }
    let me = euid();
    if uid != me {
        return Err(unsafe_dir(format!("owned by uid {uid}, not by us (uid {me})")));
    }
    if mode & 0o022 != 0 {
        return Err(unsafe_dir(format!("writable by others (mode {:o})", mode & 0o7777)));
    }
    Ok(())
}

/// Our effective uid, asked once per process.
fn euid() -> u32 {
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    // SAFETY: geteuid cannot fail.
    *EUID.get_or_init(|| unsafe { libc::geteuid() })
}

fn fstat(fd: libc::c_int) -> io::Result<libc::stat> {
    // SAFETY: all-zero is a valid `stat`; fstat fills it for a valid descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we own and a valid buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// An open directory; files are opened relative to it, never through a symlink.
pub(crate) struct DirFd {
    fd: OwnedFd,
    /// Its position is past a listing (`entries` reads this descriptor itself).
    listed: std::cell::Cell<bool>,
}

fn cstr(name: &str) -> io::Result<CString> {
    if name.contains('/') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a name, not a path"));
    }
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

impl DirFd {
    /// Opens a checked directory (`O_NOFOLLOW`: a symlink swapped in after the check fails).
    pub(crate) fn open(dir: &Path) -> io::Result<DirFd> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: a valid NUL-terminated path; the result is checked.
        let fd =
            unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor we just opened and own.
        Ok(DirFd { fd: unsafe { OwnedFd::from_raw_fd(fd) }, listed: Default::default() })
    }

    /// [`check_dir`] and [`DirFd::open`] in one: creates `dir` (0700) if needed, opens it
    /// without following a symlink and checks the opened directory itself (owner, mode) — no
    /// window between the check and the open, and three syscalls instead of five.
    pub(crate) fn open_checked(dir: &Path) -> io::Result<DirFd> {
        let d = match DirFd::open(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
                DirFd::open(dir)
            }
            r => r,
        };
        // ELOOP (a symlink) and ENOTDIR (a file): the refusal `check_dir` gives.
        let d = d.map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => check_owned_dir(dir, false, 0, 0).unwrap_err(),
            _ => e,
        })?;
        let st = fstat(d.fd.as_raw_fd())?;
        check_owned_dir(dir, st.st_mode & libc::S_IFMT == libc::S_IFDIR, st.st_uid, st.st_mode)?;
        Ok(d)
    }

    /// Opens `name` in this directory with `flags` (plus `O_NOFOLLOW | O_CLOEXEC`); the result
    /// must be a regular file. `O_NONBLOCK` keeps a planted FIFO from blocking the open.
    pub(crate) fn open_file(&self, name: &str, flags: i32, mode: u32) -> io::Result<File> {
        self.open_file_len(name, flags, mode).map(|(f, _)| f)
    }

    /// [`DirFd::open_file`], with the file's length from the same `fstat`.
    pub(crate) fn open_file_len(&self, name: &str, flags: i32, mode: u32) -> io::Result<(File, u64)> {
        let c = cstr(name)?;
        // SAFETY: a valid directory descriptor and NUL-terminated name; the result is checked.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
                mode as libc::c_uint,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ELOOP) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{name} is a symlink")));
            }
            return Err(e);
        }
        // SAFETY: a descriptor we just opened and own.
        let f = unsafe { File::from_raw_fd(fd) };
        let st = fstat(f.as_raw_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{name} is not a regular file")));
        }
        // `O_NONBLOCK` stays set: Linux ignores it for reads and writes of regular files, so
        // clearing it would be two `fcntl` calls for nothing.
        Ok((f, st.st_size as u64))
    }

    /// Every entry of this directory with its kind, read from this descriptor (no second open
    /// by path). `None`: the file system did not say (`DT_UNKNOWN`); ask [`DirFd::entry_kind`].
    pub(crate) fn entries(&self) -> io::Result<Vec<(String, Option<EntryKind>)>> {
        let fd = &self.fd;
        if self.listed.replace(true) {
            // SAFETY: lseek on our own descriptor.
            if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let mut out = Vec::new();
        // Not zeroed: the kernel writes what is read (a zeroed buffer would touch every page).
        let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
        loop {
            // SAFETY: getdents64 writes at most `capacity` bytes into the buffer.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), buf.capacity()) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 {
                return Ok(out);
            }
            // SAFETY: the kernel initialised the first `n` bytes.
            unsafe { buf.set_len(n as usize) };
            let mut off = 0usize;
            while off + 19 < n as usize {
                // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
                if reclen == 0 || off + reclen > n as usize {
                    break;
                }
                let d_type = buf[off + 18];
                let name = &buf[off + 19..off + reclen];
                let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
                if name != b"." && name != b".." {
                    let kind = match d_type {
                        libc::DT_REG => Some(EntryKind::File),
                        libc::DT_LNK => Some(EntryKind::Symlink),
                        libc::DT_DIR => Some(EntryKind::Directory),
                        libc::DT_UNKNOWN => None,
                        _ => Some(EntryKind::Other),
                    };
                    out.push((String::from_utf8_lossy(name).into_owned(), kind));
                }
                off += reclen;
            }
        }
    }

    /// The kind of entry `name` is, without following it (`None`: absent).
    pub(crate) fn entry_kind(&self, name: &str) -> io::Result<Option<EntryKind>> {
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
pub(crate) enum EntryKind {
    File,
    Symlink,
    Directory,
    Other,
}

impl EntryKind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            EntryKind::File => "a regular file",
            EntryKind::Symlink => "a symlink",
            EntryKind::Directory => "a directory",
            EntryKind::Other => "a FIFO, socket or device",
        }
    }
}
