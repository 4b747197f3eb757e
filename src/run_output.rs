//! Where a file run writes its JSON lines: stdout (`-`), or a file that only changes when the
//! run succeeds.
//!
//! The rows go to a temporary file in the target's directory, renamed over the target once
//! the run has finished (or was interrupted: the rows written until then). A run that fails,
//! however early (a mistyped `--input`, an invalid config, a corrupt file), leaves the target
//! as it was; readers of the target never see a half-written file.

use std::fs::File;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// A file run's output.
#[derive(Debug)]
pub enum RunOutput {
    /// JSON lines to stdout.
    Stdout,
    /// JSON lines to `temp`, renamed to `target` by [`RunOutput::commit`].
    File {
        /// The file being written, beside the target.
        temp: NamedTempFile,
        /// Where the rows end up.
        target: PathBuf,
    },
}

impl RunOutput {
    /// The output for `--output output` of a run reading `input`: `-` is stdout; a file must
    /// not be the input itself (the rows would replace the events).
    pub fn create(output: &Path, input: &Path) -> Result<Self, String> {
        if output == Path::new("-") {
            return Ok(RunOutput::Stdout);
        }
        if let (Ok(o), Ok(i)) = (std::fs::canonicalize(output), std::fs::canonicalize(input)) {
            if o == i {
                return Err(format!(
                    "--output {} is the input file: the rows would replace the events; give \
                     another path (or `-` for stdout)",
                    output.display()
                ));
            }
        }
        let dir = match output.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // The target keeps its permissions; a new file gets rw-r--r-- (tempfile's are 0600).
        let permissions = match std::fs::metadata(output) {
            Ok(m) => m.permissions(),
            Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o644),
        };
        let temp = tempfile::Builder::new()
            .prefix(".spanflow-output-")
            .permissions(permissions)
            .tempfile_in(dir)
            .map_err(|e| {
                format!(
                    "cannot write --output {}: cannot create a file in {}: {e}",
                    output.display(),
                    dir.display()
                )
            })?;
        Ok(RunOutput::File {
            temp,
            target: output.to_owned(),
        })
    }

    /// The file to write to; `None` for stdout.
    pub fn file(&self) -> Option<&File> {
        match self {
            RunOutput::Stdout => None,
            RunOutput::File { temp, .. } => Some(temp.as_file()),
        }
    }

    /// The path sinks open (`-` for stdout, else the temporary file).
    pub fn path(&self) -> &Path {
        match self {
            RunOutput::Stdout => Path::new("-"),
            RunOutput::File { temp, .. } => temp.path(),
        }
    }

    /// Puts the rows in place: renames the temporary file over the target.
    pub fn commit(self) -> Result<(), String> {
        match self {
            RunOutput::Stdout => Ok(()),
            RunOutput::File { temp, target } => temp
                .persist(&target)
                .map(drop)
                .map_err(|e| format!("cannot write --output {}: {}", target.display(), e.error)),
        }
    }

    /// Drops the rows of a failed run: the target stays as it was.
    pub fn discard(self) {
        if let RunOutput::File { target, .. } = &self {
            tracing::info!(output = %target.display(), "The run failed: the output file was not written.");
        }
    }
}
