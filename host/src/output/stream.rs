//! Writing to stdout and stderr without `println!`'s panic. A reader that has gone
//! (`helm oci list | head -1`) ends the process as it ends Go's, and so Helm's: by SIGPIPE,
//! quietly, with the command's work already done (the host speaks only once it is). Any
//! other failure to write the output (a full disk behind `>`) is one `Error:` line.

use std::fmt;
use std::io::{self, Write};

/// `println!` for the results, on stdout.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::stream::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` for warnings, errors and the `--debug` trace, on stderr.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::stream::err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, outln};

pub fn out(text: fmt::Arguments) {
    if let Err(e) = write(&mut io::stdout().lock(), text) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            let words = helm_oci_headers::system_words(&e);
            err(format_args!("Error: cannot write the output: {words}\n"));
        }
        ended(e)
    }
}

pub fn err(text: fmt::Arguments) {
    if let Err(e) = write(&mut io::stderr().lock(), text) {
        ended(e)
    }
}

fn write(stream: &mut impl Write, text: fmt::Arguments) -> io::Result<()> {
    stream.write_fmt(text)?;
    stream.flush()
}

/// Ends the process after a failed write: by SIGPIPE if the reader has gone, else with 1.
fn ended(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        // SAFETY: restores the signal's default action and raises it, as Go's runtime does
        // on a write to a closed stdout or stderr.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
    }
    std::process::exit(1)
}
