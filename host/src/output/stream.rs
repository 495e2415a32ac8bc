//! Writing to stdout and stderr without `println!`'s panic, and without a failed write ever
//! ending the command: what a command did is what its exit code says.
//!
//! - A reader that has gone (`helm oci list | head -1`, `helm oci pull A B | head -1`)
//!   wanted no more: the rest of that stream's output is dropped and the work goes on.
//!   Quietly, so that under Helm, which reports a plugin ended by a signal as an error, the
//!   command still ends as its work did.
//! - stdout that cannot be written otherwise (a full disk behind `>`) loses the results:
//!   a command that did its work then fails with one `Error:` line (see `lost`).
//! - stderr failing otherwise is passed over, as Go passes over a failed warning.

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;

/// `println!` for the results, on stdout.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::stream::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` for warnings, errors and the `--debug` trace, on stderr.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::stream::err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, outln};

/// Why the results could not be written, if they could not (the first failure).
static LOST: Mutex<Option<String>> = Mutex::new(None);

pub fn out(text: fmt::Arguments) {
    if let Err(e) = write(&mut io::stdout().lock(), text)
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let mut lost = LOST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        lost.get_or_insert_with(|| helm_oci_headers::system_words(&e));
    }
}

pub fn err(text: fmt::Arguments) {
    let _ = write(&mut io::stderr().lock(), text);
}

fn write(stream: &mut impl Write, text: fmt::Arguments) -> io::Result<()> {
    stream.write_fmt(text)?;
    stream.flush()
}

/// Why the command's results were lost (not a reader gone: a full disk, say), if they were.
pub fn lost() -> Option<String> {
    LOST.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}
