//! A size guard on the ZeroMQ byte stream coming from a kernel.
//!
//! The `zeromq` crate reads a frame's length from the wire and reserves
//! that much memory before the bytes arrive, with no maximum (libzmq's
//! `ZMQ_MAXMSGSIZE` has no counterpart there). A program of the box can
//! put a listener of its own where the kernel's socket was and claim a
//! frame of 2^62 bytes, which would abort the server. So every byte from
//! the box passes this guard first: it follows ZMTP 3's framing (the
//! 64-byte greeting, then frames of a flags byte, a 1- or 8-byte length
//! and the body) without keeping any of it, and fails the connection as
//! soon as a message (all its frames, each counted with
//! [`FRAME_OVERHEAD`] more, so that empty frames are not free) or a
//! command frame would pass its bound. Nothing about the messages
//! themselves is read here: signing and parsing stay in the protocol
//! crate.

/// Bytes of the greeting that opens a ZMTP 3 stream.
const GREETING_BYTES: u64 = 64;

/// What a frame is charged beyond its body: the library keeps each frame
/// as a buffer of its own.
pub const FRAME_OVERHEAD: u64 = 64;

/// Largest command frame (READY with its properties, PING, …).
const MAX_COMMAND_BYTES: u64 = 64 * 1024;

const FLAG_MORE: u8 = 0b001;
const FLAG_LONG: u8 = 0b010;
const FLAG_COMMAND: u8 = 0b100;

/// Why the guard closed a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// A message was larger than allowed.
    #[error("the kernel sent a message larger than {max} bytes")]
    MessageTooLarge {
        /// The bound.
        max: u64,
    },
    /// A command frame was larger than allowed.
    #[error("the kernel sent a ZeroMQ command frame larger than {MAX_COMMAND_BYTES} bytes")]
    CommandTooLarge,
    /// A reserved flag bit was set.
    #[error("the kernel sent a malformed ZeroMQ frame")]
    Malformed,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Greeting { left: u64 },
    Flags,
    Length { flags: u8, have: u8, need: u8, value: u64 },
    Body { flags: u8, left: u64 },
}

/// The guard's state over one stream.
#[derive(Debug)]
pub struct FrameGuard {
    state: State,
    max_message: u64,
    /// Bytes charged to the message being received.
    message: u64,
}

impl FrameGuard {
    /// A guard for a new stream whose messages may take `max_message` bytes.
    pub fn new(max_message: u64) -> FrameGuard {
        FrameGuard { state: State::Greeting { left: GREETING_BYTES }, max_message, message: 0 }
    }

    /// Checks the next bytes of the stream; an error means the stream must
    /// be closed before they are passed on.
    pub fn check(&mut self, mut bytes: &[u8]) -> Result<(), GuardError> {
        while !bytes.is_empty() {
            match self.state {
                State::Greeting { left } => {
                    let taken = left.min(bytes.len() as u64);
                    bytes = &bytes[taken as usize..];
                    self.state = if taken == left { State::Flags } else { State::Greeting { left: left - taken } };
                }
                State::Flags => {
                    let flags = bytes[0];
                    bytes = &bytes[1..];
                    if flags & !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND) != 0 {
                        return Err(GuardError::Malformed);
                    }
                    let need = if flags & FLAG_LONG != 0 { 8 } else { 1 };
                    self.state = State::Length { flags, have: 0, need, value: 0 };
                }
                State::Length { flags, have, need, value } => {
                    let value = (value << 8) | u64::from(bytes[0]);
                    bytes = &bytes[1..];
                    if have + 1 < need {
                        self.state = State::Length { flags, have: have + 1, need, value };
                        continue;
                    }
                    self.start_body(flags, value)?;
                }
                State::Body { flags, left } => {
                    let taken = left.min(bytes.len() as u64);
                    bytes = &bytes[taken as usize..];
                    if taken < left {
                        self.state = State::Body { flags, left: left - taken };
                    } else {
                        self.end_frame(flags);
                    }
                }
            }
        }
        Ok(())
    }

    fn start_body(&mut self, flags: u8, length: u64) -> Result<(), GuardError> {
        if flags & FLAG_COMMAND != 0 {
            if length > MAX_COMMAND_BYTES {
                return Err(GuardError::CommandTooLarge);
            }
        } else {
            self.message = self.message.saturating_add(length).saturating_add(FRAME_OVERHEAD);
            if self.message > self.max_message {
                return Err(GuardError::MessageTooLarge { max: self.max_message });
            }
        }
        if length == 0 {
            self.end_frame(flags);
        } else {
            self.state = State::Body { flags, left: length };
        }
        Ok(())
    }

    fn end_frame(&mut self, flags: u8) {
        if flags & FLAG_COMMAND == 0 && flags & FLAG_MORE == 0 {
            self.message = 0;
        }
        self.state = State::Flags;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if body.len() > 255 {
            out.push(flags | FLAG_LONG);
            out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        } else {
            out.push(flags);
            out.push(body.len() as u8);
        }
        out.extend_from_slice(body);
        out
    }

    fn stream(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0xffu8; 64];
        for f in frames {
            out.extend_from_slice(f);
        }
        out
    }

    #[test]
    fn messages_within_the_bound_pass_in_any_chunking() {
        let bytes = stream(&[
            frame(FLAG_COMMAND, b"\x05READY"),
            frame(FLAG_MORE, b"<IDS|MSG>"),
            frame(FLAG_MORE, &[7u8; 300]),
            frame(0, &[1u8; 900]),
            frame(0, &[2u8; 900]),
        ]);
        for chunk in [1, 3, 64, 4096] {
            let mut guard = FrameGuard::new(1300 + 2 * FRAME_OVERHEAD + 9 + FRAME_OVERHEAD);
            for piece in bytes.chunks(chunk) {
                guard.check(piece).unwrap_or_else(|e| panic!("chunks of {chunk}: {e}"));
            }
        }
    }

    #[test]
    fn a_message_past_the_bound_is_refused_before_its_body_arrives() {
        let mut guard = FrameGuard::new(1024);
        let mut bytes = stream(&[]);
        // A header that claims 2^62 bytes, and no body at all.
        bytes.push(FLAG_LONG);
        bytes.extend_from_slice(&(1u64 << 62).to_be_bytes());
        assert_eq!(guard.check(&bytes), Err(GuardError::MessageTooLarge { max: 1024 }));
    }

    #[test]
    fn frames_of_a_message_add_up_and_empty_frames_are_not_free() {
        let mut guard = FrameGuard::new(1000);
        let parts: Vec<Vec<u8>> = (0..3).map(|_| frame(FLAG_MORE, &[0u8; 300])).collect();
        assert!(guard.check(&stream(&parts)).is_err(), "3 × 300 bytes + overhead > 1000");
        let mut guard = FrameGuard::new(10_000);
        let empty: Vec<Vec<u8>> = (0..1000).map(|_| frame(FLAG_MORE, b"")).collect();
        assert!(guard.check(&stream(&empty)).is_err(), "a thousand empty frames cost their overhead");
    }

    #[test]
    fn big_commands_and_reserved_flags_are_refused() {
        let mut guard = FrameGuard::new(u64::MAX);
        assert_eq!(guard.check(&stream(&[frame(FLAG_COMMAND, &vec![0u8; 70_000])])), Err(GuardError::CommandTooLarge));
        let mut guard = FrameGuard::new(u64::MAX);
        assert_eq!(guard.check(&stream(&[frame(0b1000, b"x")])), Err(GuardError::Malformed));
    }
}
