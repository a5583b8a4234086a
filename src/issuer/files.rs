//! Secrets on disk: created with mode 0600 in a 0700 directory, never world-readable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// The file's bytes, or `None` when it does not exist. Warns when others may read it.
///
/// # Errors
/// Any I/O error other than "not found".
pub(super) fn read_private(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "secret file is readable by others; chmod 600 it");
                }
            }
            Ok(Some(bytes))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Opens `path` with `options`, creating its missing parent directories 0700 and the file, if
/// `options` creates it, 0600: readable by the owner only whatever the umask.
///
/// # Errors
/// Any I/O error.
pub(crate) fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options.open(path)
}

/// Writes a new file readable by its owner only, creating the parent directory (0700) if needed. Fails
/// rather than overwrite an existing file.
///
/// # Errors
/// Any I/O error, including "already exists".
pub(super) fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = open_private(path, OpenOptions::new().write(true).create_new(true))?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/secret");
        write_private(&path, b"one").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(write_private(&path, b"two").is_err());
        assert_eq!(read_private(&path).unwrap().unwrap(), b"one");
        assert!(read_private(&dir.path().join("absent")).unwrap().is_none());
    }
}
