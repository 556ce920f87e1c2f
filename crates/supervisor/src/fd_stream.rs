//! Reading a run's output from descriptors the server holds (pipes' read
//! ends or PTY masters) into the run's output, until the end of each
//! stream or the output cap.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use bytes::Bytes;
use bytesbox_sandbox::Stream;
use tokio::io::unix::AsyncFd;

use crate::output::{Delivery, RunOutput, READ_CHUNK};

/// A non-blocking descriptor registered with the reactor.
pub type ReadFd = Arc<AsyncFd<OwnedFd>>;

/// What one read of a ready descriptor gave.
enum Read {
    /// This many bytes, at the start of the buffer.
    Bytes(usize),
    /// Nothing after all: wait for readiness again.
    NotReady,
    /// The end: EOF, or EIO from a PTY whose last slave was closed.
    End,
}

/// One read, once the reactor said `fd` is readable.
async fn read_ready(fd: &ReadFd, buffer: &mut [u8]) -> Read {
    let Ok(mut guard) = fd.readable().await else {
        return Read::End;
    };
    match guard.try_io(|inner| rustix::io::read(inner.get_ref(), &mut *buffer).map_err(std::io::Error::from)) {
        Err(_would_block) => Read::NotReady,
        Ok(Ok(0)) => Read::End,
        Ok(Ok(n)) => Read::Bytes(n),
        Ok(Err(e)) if e.raw_os_error() == Some(libc::EINTR) => Read::NotReady,
        Ok(Err(_)) => Read::End,
    }
}

/// Reads `fd` as `stream` until its end or the output cap; past the cap
/// the reader stops, so the program gets EPIPE (a pipe) or blocks.
pub async fn read_fd_stream(fd: ReadFd, stream: Stream, output: Arc<RunOutput>) -> Result<(), String> {
    // One buffer for the whole run; each event copies only the bytes read,
    // so a one-byte write costs one byte in the queue, not a fresh 64 KiB.
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        match read_ready(&fd, &mut buffer).await {
            Read::Bytes(n) => {
                if output.deliver(stream, Bytes::copy_from_slice(&buffer[..n])).await != Delivery::Delivered {
                    break;
                }
            }
            Read::NotReady => continue,
            Read::End => break,
        }
    }
    Ok(())
}

/// Reads a run's stdout and stderr (two terminals) in one task until both
/// end. Output that waits on both is taken from stdout first: a program
/// that prints and then fails (a line, then a traceback) is shown in that
/// order even when both arrived before the task ran, which two readers
/// racing each other got wrong about one time in ten.
pub async fn read_fd_streams(stdout: ReadFd, stderr: ReadFd, output: Arc<RunOutput>) -> Result<(), String> {
    let mut stdout_buffer = vec![0u8; READ_CHUNK];
    let mut stderr_buffer = vec![0u8; READ_CHUNK];
    let (mut stdout_open, mut stderr_open) = (true, true);
    while stdout_open || stderr_open {
        let (stream, read, buffer) = tokio::select! {
            biased;
            read = read_ready(&stdout, &mut stdout_buffer), if stdout_open => (Stream::Stdout, read, &stdout_buffer),
            read = read_ready(&stderr, &mut stderr_buffer), if stderr_open => (Stream::Stderr, read, &stderr_buffer),
        };
        let open = match read {
            Read::Bytes(n) => output.deliver(stream, Bytes::copy_from_slice(&buffer[..n])).await == Delivery::Delivered,
            Read::NotReady => true,
            Read::End => false,
        };
        match stream {
            Stream::Stdout => stdout_open = open,
            Stream::Stderr => stderr_open = open,
        }
    }
    Ok(())
}
