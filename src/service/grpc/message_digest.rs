//! The SHA-256 of a unary call's request message as the client sent it, taken while the
//! body streams past: what a SigV4 signature over the message (`Sessions.AssumeRole`)
//! covers. Re-encoding the decoded message would not give it: a field this build does not
//! know (a client built from a newer `rolegate.v1`), fields in another order or a varint
//! written long are all valid protobuf that prost encodes otherwise.

use sha2::{Digest, Sha256};

/// gRPC's length-prefixed message (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a
/// compressed flag byte and a 4-byte big-endian length, then the message.
const PREFIX_BYTES: usize = 5;

/// The digest of the one message a unary call's body holds, fed the body's bytes in order.
#[derive(Clone, Debug)]
pub struct MessageDigest {
    state: State,
}

#[derive(Clone, Debug)]
enum State {
    /// Reading the prefix: `got` of its bytes so far.
    Prefix { bytes: [u8; PREFIX_BYTES], got: usize },
    /// Hashing the message: `remaining` bytes of it to come.
    Message { remaining: usize, hasher: Sha256 },
    /// The message ended.
    Complete(Sha256),
    /// Not one uncompressed message: a compressed one, or bytes after the first.
    NotOneMessage,
}

impl Default for MessageDigest {
    fn default() -> Self {
        MessageDigest {
            state: State::Prefix {
                bytes: [0; PREFIX_BYTES],
                got: 0,
            },
        }
    }
}

impl MessageDigest {
    /// Takes the next bytes of the body.
    pub fn update(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            self.state = match std::mem::replace(&mut self.state, State::NotOneMessage) {
                State::Prefix { mut bytes, got } => {
                    let take = (PREFIX_BYTES - got).min(chunk.len());
                    bytes[got..got + take].copy_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    match got + take {
                        PREFIX_BYTES => message_after(bytes),
                        got => State::Prefix { bytes, got },
                    }
                }
                State::Message { remaining, mut hasher } => {
                    let take = remaining.min(chunk.len());
                    hasher.update(&chunk[..take]);
                    chunk = &chunk[take..];
                    match remaining - take {
                        0 => State::Complete(hasher),
                        remaining => State::Message { remaining, hasher },
                    }
                }
                State::Complete(_) | State::NotOneMessage => return,
            };
        }
        // An empty message completes with its prefix.
        if let State::Message { remaining: 0, hasher } = &self.state {
            self.state = State::Complete(hasher.clone());
        }
    }

    /// The hex SHA-256 of the message, once the body held exactly one uncompressed message
    /// and nothing else; None otherwise.
    pub fn finish(self) -> Option<String> {
        match self.state {
            State::Complete(hasher) => Some(hex::encode(hasher.finalize())),
            State::Prefix { .. } | State::Message { .. } | State::NotOneMessage => None,
        }
    }
}

/// The state after a complete prefix: the message it announces, unless it is compressed
/// (rolegate accepts no `grpc-encoding`, so a compressed message is no request it reads).
fn message_after(prefix: [u8; PREFIX_BYTES]) -> State {
    let [compressed, length @ ..] = prefix;
    match (compressed, usize::try_from(u32::from_be_bytes(length))) {
        (0, Ok(remaining)) => State::Message {
            remaining,
            hasher: Sha256::new(),
        },
        _ => State::NotOneMessage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut body = vec![0];
        body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        body.extend_from_slice(message);
        body
    }

    fn digest_of(chunks: &[&[u8]]) -> Option<String> {
        let mut digest = MessageDigest::default();
        for chunk in chunks {
            digest.update(chunk);
        }
        digest.finish()
    }

    #[test]
    fn the_digest_is_of_the_message_however_the_body_is_cut() {
        let message = b"\x0a\x03abc\x12\x02s1";
        let want = Some(hex::encode(Sha256::digest(message)));
        let body = framed(message);
        assert_eq!(digest_of(&[&body]), want);
        for cut in 0..=body.len() {
            assert_eq!(digest_of(&[&body[..cut], &body[cut..]]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(digest_of(&bytes), want);
        // An empty message is a message.
        assert_eq!(digest_of(&[&framed(b"")]), Some(hex::encode(Sha256::digest(b""))));
    }

    #[test]
    fn a_body_that_is_not_one_uncompressed_message_has_no_digest() {
        let body = framed(b"\x0a\x01a");
        // Cut short: in the prefix, in the message; nothing at all.
        assert_eq!(digest_of(&[&body[..3]]), None);
        assert_eq!(digest_of(&[&body[..body.len() - 1]]), None);
        assert_eq!(digest_of(&[]), None);
        // A second message, or a stray byte, after the first.
        assert_eq!(digest_of(&[&body, &body]), None);
        assert_eq!(digest_of(&[&body, b"\0"]), None);
        // Compressed.
        let mut compressed = body.clone();
        compressed[0] = 1;
        assert_eq!(digest_of(&[&compressed]), None);
    }
}
