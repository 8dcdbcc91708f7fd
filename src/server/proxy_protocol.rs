//! The PROXY protocol on the TLS listener, for deployments behind a TCP (layer 4) load
//! balancer, which cannot terminate TLS without losing the client certificates gRPC needs:
//! with `server.proxy_protocol = true` every connection starts with the balancer's header
//! (HAProxy's versions 1 and 2, <https://www.haproxy.org/download/3.0/doc/proxy-protocol.txt>,
//! parsed by the `ppp` crate), and the client address it names is the one the audit log, rate
//! limits and per-address shares see. A connection without a valid header, or from a peer
//! outside the balancers `server.proxy_protocol_from` lists, is closed.
//!
//! The header is read without reading past it: the TLS handshake that follows is untouched.

use std::net::{IpAddr, SocketAddr};

use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The longest header accepted: version 1 takes at most 107 bytes; version 2 takes 16 bytes,
/// the addresses and the balancer's TLVs (a few dozen bytes in practice).
pub const MAX_HEADER_BYTES: usize = 4096;

/// Why a connection's PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("the connection closed before a PROXY protocol header")]
    Closed,
    #[error("no valid PROXY protocol header: {0}")]
    Invalid(String),
    #[error("the PROXY protocol header is longer than {MAX_HEADER_BYTES} bytes")]
    TooLong,
    #[error("no PROXY protocol header in time")]
    TimedOut,
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `peer` may send PROXY headers: it is in one of `balancers` (a configuration with
/// `proxy_protocol` lists at least one).
/// An IPv4 peer seen through an IPv6 socket (`::ffff:10.0.0.1`) is compared as IPv4.
pub fn is_trusted_balancer(balancers: &[ipnet::IpNet], peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    balancers.iter().any(|net| net.contains(&peer))
}

/// Reads the PROXY header at the start of `tcp`, consuming exactly its bytes, and returns the
/// client address it names: `None` when it names none (a version 2 `LOCAL` or a version 1
/// `UNKNOWN` connection, such as the balancer's own health check), so the peer's address holds.
///
/// Bytes are peeked at, and read once they are known to be the header's: all of them while
/// the header is incomplete (what came so far is a prefix of it), up to its end once it is
/// complete. A header arriving in pieces is waited for without polling: the next peek waits
/// for bytes not yet read. The handshake timeout bounds the whole wait.
pub async fn read_header(tcp: &mut TcpStream) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut buf = vec![0u8; MAX_HEADER_BYTES];
    let mut read = 0;
    loop {
        let available = tcp.peek(&mut buf[read..]).await?;
        if available == 0 {
            return Err(ProxyHeaderError::Closed);
        }
        let seen = read + available;
        match header_in(&buf[..seen])? {
            HeaderSoFar::Incomplete => {
                tcp.read_exact(&mut buf[read..seen]).await?;
                read = seen;
            }
            HeaderSoFar::Complete { length, client } => {
                // The bytes read so far were a prefix of the header: `length` is at least `read`.
                tcp.read_exact(&mut buf[read..length.max(read)]).await?;
                return Ok(client);
            }
        }
    }
}

/// What the first bytes of a connection hold of its PROXY header ([`header_in`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderSoFar {
    /// A prefix of a header: more bytes are needed.
    Incomplete,
    /// A whole header, of `length` bytes, naming `client` (see [`read_header`]).
    Complete { length: usize, client: Option<SocketAddr> },
}

/// Judges `seen`, the bytes a connection has sent so far (at most [`MAX_HEADER_BYTES`]):
/// a header still incomplete, a complete one, or none that more bytes could complete.
pub(crate) fn header_in(seen: &[u8]) -> Result<HeaderSoFar, ProxyHeaderError> {
    let parsed = HeaderResult::parse(seen);
    if parsed.is_incomplete() || unfinished_v1_line(seen) {
        if seen.len() >= MAX_HEADER_BYTES {
            return Err(ProxyHeaderError::TooLong);
        }
        if ended_v1_line(seen) {
            return Err(ProxyHeaderError::Invalid(
                "the version 1 header line ends before its addresses and ports".to_owned(),
            ));
        }
        if seen.len() > MAX_V1_LINE_BYTES && unfinished_v1_line(seen) {
            return Err(ProxyHeaderError::Invalid(format!(
                "the version 1 header line has no line break within {MAX_V1_LINE_BYTES} bytes"
            )));
        }
        return Ok(HeaderSoFar::Incomplete);
    }
    let (length, client) = client_of(parsed)?;
    Ok(HeaderSoFar::Complete { length, client })
}

/// The longest version 1 header line, its `\r\n` included (the PROXY protocol, §2.1).
const MAX_V1_LINE_BYTES: usize = 107;

/// Whether `bytes` begin a version 1 line (`PROXY …`) whose line break has not come yet: the
/// parser judges some of its prefixes as if they were whole (one ending just after the
/// source port, whose destination port it then finds empty), so only the line break ends it.
fn unfinished_v1_line(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PROXY ") && !bytes.windows(2).any(|w| w == b"\r\n")
}

/// Whether `bytes` hold a whole version 1 line (`PROXY …\r\n`) the parser still calls
/// incomplete: fields are missing (`PROXY TCP4 203.0.113.7\r\n`), and no byte to come can
/// complete it, so waiting for more would only hold the connection until the timeout.
fn ended_v1_line(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PROXY ") && bytes.windows(2).any(|w| w == b"\r\n")
}

/// The length of a complete parsed header and the client address it names (see
/// [`read_header`]).
fn client_of(parsed: HeaderResult<'_>) -> Result<(usize, Option<SocketAddr>), ProxyHeaderError> {
    let invalid = |e: &dyn std::fmt::Display| ProxyHeaderError::Invalid(e.to_string());
    match parsed {
        // The line ends at its CR LF: ppp may end one at a lone CR (`PROXY UNKNOWN \n\r\r\n`),
        // leaving the line's last byte to the TLS handshake.
        HeaderResult::V1(Ok(header)) if !header.header.ends_with("\r\n") => Err(ProxyHeaderError::Invalid(
            "the version 1 header line does not end with its CR LF".to_owned(),
        )),
        HeaderResult::V1(Ok(header)) => {
            let client = match header.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            };
            Ok((header.header.len(), client))
        }
        HeaderResult::V2(Ok(header)) => {
            let client = match (header.command, header.addresses) {
                (v2::Command::Local, _) => None,
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => None,
            };
            Ok((header.len(), client))
        }
        HeaderResult::V1(Err(e)) => Err(invalid(&e)),
        HeaderResult::V2(Err(e)) => Err(invalid(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_v1_line_with_fields_missing_is_not_waited_on() {
        let short = b"PROXY TCP4 203.0.113.7\r\n\x16\x03\x01";
        assert!(HeaderResult::parse(short).is_incomplete(), "what ppp says of it");
        assert!(ended_v1_line(short));
        assert!(!ended_v1_line(b"PROXY TCP4 203.0.113.7 10.0.0.1 4"), "still arriving");
        assert!(!ended_v1_line(b"\r\n\r\n\0\r\nQUIT\n"), "a version 2 signature");
    }

    /// ppp takes `PROXY UNKNOWN \n\r\r\n` for a 17-byte header ending in `\r\r`: read as
    /// such, its last `\n` would be left to the TLS handshake. A line is only whole at its
    /// CR LF (found by the fuzz target `proxy_protocol_header`).
    #[test]
    fn a_v1_header_not_ending_in_cr_lf_is_refused() {
        for line in [&b"PROXY UNKNOWN \n\r\r\n"[..], b"PROXY UNKNOWN \n\r\r\n\x16\x03\x01"] {
            assert!(
                matches!(header_in(line), Err(ProxyHeaderError::Invalid(ref m)) if m.contains("CR LF")),
                "{:?}: {:?}",
                String::from_utf8_lossy(line),
                header_in(line)
            );
        }
        assert_eq!(
            header_in(b"PROXY UNKNOWN ignored\r\n\x16").unwrap(),
            HeaderSoFar::Complete {
                length: 23,
                client: None
            }
        );
    }

    /// Every prefix of a version 1 line waits for more, wherever the line is cut — the parser
    /// alone refuses the one ending just after the source port.
    #[test]
    fn a_v1_line_cut_anywhere_waits_for_the_rest() {
        for line in [
            &b"PROXY TCP4 203.0.113.8 10.0.0.1 40000 443\r\n"[..],
            b"PROXY TCP6 2001:db8::7 2001:db8::1 40001 443\r\n",
            b"PROXY UNKNOWN\r\n",
        ] {
            for cut in 1..line.len() {
                let prefix = &line[..cut];
                assert!(
                    HeaderResult::parse(prefix).is_incomplete() || unfinished_v1_line(prefix),
                    "{:?}",
                    String::from_utf8_lossy(prefix)
                );
            }
            assert!(parse(line).is_ok());
            assert!(!unfinished_v1_line(line));
        }
        assert!(!unfinished_v1_line(&[0x16, 0x03, 0x01]), "not a version 1 line");
        let after_source_port = b"PROXY TCP4 203.0.113.8 10.0.0.1 40000 ";
        assert!(
            !HeaderResult::parse(after_source_port).is_incomplete(),
            "what ppp says of it"
        );
    }

    fn parse(input: &[u8]) -> Result<(usize, Option<SocketAddr>), ProxyHeaderError> {
        client_of(HeaderResult::parse(input))
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn v2_header(command: v2::Command, addresses: v2::Addresses) -> Vec<u8> {
        v2::Builder::with_addresses(v2::Version::Two | command, v2::Protocol::Stream, addresses)
            .build()
            .unwrap()
    }

    #[test]
    fn only_the_listed_balancers_are_believed() {
        let listed: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::7/128".parse().unwrap()];
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(is_trusted_balancer(&listed, ip("10.1.2.3")));
        assert!(is_trusted_balancer(&listed, ip("::ffff:10.1.2.3")));
        assert!(is_trusted_balancer(&listed, ip("2001:db8::7")));
        assert!(!is_trusted_balancer(&listed, ip("192.0.2.1")));
        assert!(!is_trusted_balancer(&listed, ip("2001:db8::8")));
        assert!(!is_trusted_balancer(&[], ip("192.0.2.1")), "no list: no peer");
    }

    #[test]
    fn version_1_names_the_client_and_ends_at_its_line_break() {
        let line = "PROXY TCP4 203.0.113.7 10.0.0.1 40000 443\r\n";
        let mut input = line.as_bytes().to_vec();
        input.extend_from_slice(&[0x16, 0x03, 0x01]); // the TLS ClientHello that follows
        let (length, client) = parse(&input).unwrap();
        assert_eq!(length, line.len());
        assert_eq!(client, Some("203.0.113.7:40000".parse().unwrap()));

        let line = "PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n";
        let (length, client) = parse(line.as_bytes()).unwrap();
        assert_eq!(
            (length, client),
            (line.len(), Some("[2001:db8::7]:40000".parse().unwrap()))
        );

        assert_eq!(parse(b"PROXY UNKNOWN\r\n\x16").unwrap(), (15, None));
    }

    #[test]
    fn version_2_names_the_client_unless_local() {
        let proxied = v2_header(
            v2::Command::Proxy,
            v2::Addresses::from((addr("203.0.113.7:40000"), addr("10.0.0.1:443"))),
        );
        let mut input = proxied.clone();
        input.extend_from_slice(&[0x16, 0x03, 0x01]);
        let (length, client) = parse(&input).unwrap();
        assert_eq!(length, proxied.len());
        assert_eq!(client, Some("203.0.113.7:40000".parse().unwrap()));

        let local = v2_header(v2::Command::Local, v2::Addresses::Unspecified);
        assert_eq!(parse(&local).unwrap(), (local.len(), None));
    }

    #[test]
    fn anything_else_is_refused_or_waits_for_more() {
        // A TLS ClientHello where the header should be.
        assert!(matches!(
            parse(&[0x16, 0x03, 0x01, 0x02, 0x00]),
            Err(ProxyHeaderError::Invalid(_))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 not-an-address 10.0.0.1 1 2\r\n"),
            Err(ProxyHeaderError::Invalid(_))
        ));
        // Beginnings of valid headers are incomplete, not errors.
        assert!(HeaderResult::parse(b"PROXY TCP4 203.0.").is_incomplete());
        let proxied = v2_header(
            v2::Command::Proxy,
            v2::Addresses::from((addr("203.0.113.7:40000"), addr("10.0.0.1:443"))),
        );
        assert!(HeaderResult::parse(&proxied[..20]).is_incomplete());
    }

    /// A header sent in pieces, each written once the reader has consumed the previous one,
    /// is read whole, and the bytes after it are left for the TLS handshake.
    #[tokio::test]
    async fn a_header_in_pieces_is_read_to_its_end_and_no_further() {
        let v2 = v2_header(
            v2::Command::Proxy,
            v2::Addresses::from((addr("203.0.113.7:40000"), addr("10.0.0.1:443"))),
        );
        let v1 = b"PROXY TCP6 2001:db8::7 2001:db8::1 40001 443\r\n".to_vec();
        // Cut where the parser alone takes the line for a whole one: just after the source port.
        let v1_cut = b"PROXY TCP4 203.0.113.8 10.0.0.1 40000 443\r\n".to_vec();
        let after_source_port = v1_cut.len() - "443\r\n".len();
        for (header, client, cuts) in [
            (v2, addr("203.0.113.7:40000"), [3, 13]),
            (v1, addr("[2001:db8::7]:40001"), [3, 13]),
            (v1_cut, addr("203.0.113.8:40000"), [3, after_source_port]),
        ] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut sender = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (mut tcp, _) = listener.accept().await.unwrap();
            let pieces: Vec<Vec<u8>> = [
                &header[..cuts[0]],
                &header[cuts[0]..cuts[1]],
                &header[cuts[1]..],
                b"\x16\x03\x01",
            ]
            .iter()
            .map(|p| p.to_vec())
            .collect();
            let writer = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                for piece in pieces {
                    sender.write_all(&piece).await.unwrap();
                    sender.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
                sender
            });
            assert_eq!(read_header(&mut tcp).await.unwrap(), Some(client));
            let _sender = writer.await.unwrap();
            let mut rest = [0u8; 3];
            tcp.read_exact(&mut rest).await.unwrap();
            assert_eq!(rest, [0x16, 0x03, 0x01]);
        }
    }
}
