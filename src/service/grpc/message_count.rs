//! The length-prefixed messages of a gRPC request stream, counted as its bytes pass: what a
//! stream that carries many requests (server reflection) is charged for, one rate-limit token
//! a message, as a client calling once a message would be.

/// gRPC's length-prefixed message (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a
/// compressed flag byte and a 4-byte big-endian length, then the message.
const PREFIX_BYTES: usize = 5;

/// Where a request stream's bytes are, message by message.
#[derive(Debug, Default)]
pub struct MessageCount {
    /// The prefix of the next message, `got` bytes of it so far.
    prefix: [u8; PREFIX_BYTES],
    got: usize,
    /// Bytes of the current message still to come.
    remaining: u64,
}

impl MessageCount {
    /// Takes the next bytes of the stream; returns how many messages began in them (a
    /// message begins with its complete prefix).
    pub fn begun_in(&mut self, mut chunk: &[u8]) -> usize {
        let mut begun = 0;
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let skipped = usize::try_from(self.remaining).map_or(chunk.len(), |r| r.min(chunk.len()));
                chunk = &chunk[skipped..];
                self.remaining -= skipped as u64;
                continue;
            }
            let take = (PREFIX_BYTES - self.got).min(chunk.len());
            self.prefix[self.got..self.got + take].copy_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            self.got += take;
            if self.got == PREFIX_BYTES {
                let [_compressed, length @ ..] = self.prefix;
                self.remaining = u64::from(u32::from_be_bytes(length));
                self.got = 0;
                begun += 1;
            }
        }
        begun
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &[u8]) -> Vec<u8> {
        let mut framed = vec![0];
        framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
        framed.extend_from_slice(body);
        framed
    }

    #[test]
    fn messages_are_counted_however_the_stream_is_cut() {
        let stream: Vec<u8> = [message(b"abc"), message(b""), message(&[7; 300]), message(b"z")].concat();
        for cut in [1, 2, 3, 5, 6, 7, 64, stream.len()] {
            let mut count = MessageCount::default();
            let begun: usize = stream.chunks(cut).map(|chunk| count.begun_in(chunk)).sum();
            assert_eq!(begun, 4, "chunks of {cut}");
        }
        // A prefix is a message's beginning only once it is whole.
        let mut count = MessageCount::default();
        assert_eq!(count.begun_in(&[0, 0, 0]), 0);
        assert_eq!(count.begun_in(&[0, 2]), 1);
        assert_eq!(count.begun_in(&[1, 2, 0]), 0);
    }
}
