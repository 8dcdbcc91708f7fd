//! The length-prefixed messages of a gRPC request stream, found as its bytes pass: what a
//! stream that carries many requests (server reflection) is charged for, one rate-limit token
//! a message, as a client calling once a message would be.

/// gRPC's length-prefixed message (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a
/// compressed flag byte and a 4-byte big-endian length, then the message.
const PREFIX_BYTES: usize = 5;

/// Where a request stream's bytes are, message by message.
#[derive(Debug, Default)]
pub struct MessageCount {
    /// Bytes of the current message, prefix included, still to come; 0 between messages.
    remaining: u64,
    /// The prefix of the current message, `got` bytes of it so far (fewer than 5 while it
    /// arrives).
    prefix: [u8; PREFIX_BYTES],
    got: usize,
}

impl MessageCount {
    /// Takes the next bytes of the stream; returns the offsets in `chunk` at which messages
    /// begin (a message begins with the first byte of its prefix).
    pub fn begun_in(&mut self, chunk: &[u8]) -> Vec<usize> {
        let mut begun = Vec::new();
        let mut at = 0;
        while at < chunk.len() {
            if self.got == 0 && self.remaining == 0 {
                begun.push(at);
            }
            if self.got < PREFIX_BYTES {
                let take = (PREFIX_BYTES - self.got).min(chunk.len() - at);
                self.prefix[self.got..self.got + take].copy_from_slice(&chunk[at..at + take]);
                self.got += take;
                at += take;
                if self.got == PREFIX_BYTES {
                    let [_compressed, length @ ..] = self.prefix;
                    self.remaining = u64::from(u32::from_be_bytes(length));
                    if self.remaining == 0 {
                        self.got = 0;
                    }
                }
                continue;
            }
            let skipped = usize::try_from(self.remaining).map_or(chunk.len() - at, |r| r.min(chunk.len() - at));
            at += skipped;
            self.remaining -= skipped as u64;
            if self.remaining == 0 {
                self.got = 0;
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
        let starts = [0, 8, 13, 318];
        for cut in [1, 2, 3, 5, 6, 7, 64, stream.len()] {
            let mut count = MessageCount::default();
            let begun: Vec<usize> = stream
                .chunks(cut)
                .enumerate()
                .flat_map(|(i, chunk)| count.begun_in(chunk).into_iter().map(move |at| i * cut + at))
                .collect();
            assert_eq!(begun, starts, "chunks of {cut}");
        }
        // A message begins with its prefix's first byte.
        let mut count = MessageCount::default();
        assert_eq!(count.begun_in(&[0, 0, 0]), [0]);
        assert_eq!(count.begun_in(&[0, 2]), [] as [usize; 0]);
        assert_eq!(count.begun_in(&[1, 2, 0]), [2]);
    }
}
