//! A deliberately tiny HTTP/1.1 client for UPnP: one request per connection, IP-literal hosts
//! only (no DNS), every size bounded, one overall timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::truncate;
use crate::NatError;

/// Longest URL we accept from a gateway, in bytes (real description/control URLs are well
/// under 200 bytes; this only stops abuse).
pub(crate) const MAX_URL_LEN: usize = 2048;
/// Largest HTTP response we read, headers and body together, in bytes. IGD device
/// descriptions of common routers are 5–30 KiB; SOAP responses under 2 KiB (measured on
/// published descriptions). 256 KiB leaves room and bounds memory.
pub(crate) const MAX_HTTP_RESPONSE_BYTES: usize = 256 * 1024;
/// Largest HTTP header block we accept, in bytes (our own bound).
pub(crate) const MAX_HTTP_HEADER_BYTES: usize = 16 * 1024;
/// Deadline for one whole request (connect, send, read), same as go-ethereum's
/// `soapRequestTimeout` (3 s).
pub(crate) const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// An `http://` URL whose host is an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Path and query, always starting with `/`, free of whitespace and control characters.
    pub path: String,
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.addr, self.path)
    }
}

fn bad_url(url: &str, reason: &'static str) -> NatError {
    NatError::InvalidUrl {
        url: truncate(url),
        reason,
    }
}

fn check_path(url: &str, path: &str) -> Result<(), NatError> {
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad_url(url, "whitespace or control character in path"));
    }
    Ok(())
}

impl HttpUrl {
    /// Parses `http://<IPv4>[:port][/path]` or `http://[<IPv6>][:port][/path]`.
    pub(crate) fn parse(url: &str) -> Result<Self, NatError> {
        if url.len() > MAX_URL_LEN {
            return Err(bad_url(url, "too long"));
        }
        let rest = match url.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &url[7..],
            _ => return Err(bad_url(url, "not an http:// URL")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(bad_url(url, "user info is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad_url(url, "unclosed ["))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad_url(url, "junk after ]"))?,
                ),
            };
            (host, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let ip: IpAddr = host.parse().map_err(|_| {
            bad_url(
                url,
                "host is not an IP literal (host names are not resolved)",
            )
        })?;
        let port = match port {
            None => 80,
            Some(p) => p.parse::<u16>().map_err(|_| bad_url(url, "bad port"))?,
        };
        if port == 0 {
            return Err(bad_url(url, "port 0"));
        }
        check_path(url, path)?;
        Ok(HttpUrl {
            addr: SocketAddr::new(ip, port),
            path: path.to_owned(),
        })
    }

    /// Resolves a reference from a document fetched at `self` (absolute URL, absolute path or
    /// relative path).
    pub(crate) fn join(&self, reference: &str) -> Result<Self, NatError> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(bad_url(reference, "empty URL"));
        }
        if reference.len() > MAX_URL_LEN {
            return Err(bad_url(reference, "too long"));
        }
        if reference.contains("://") {
            return HttpUrl::parse(reference);
        }
        if reference.starts_with("//") {
            return Err(bad_url(reference, "scheme-relative URLs are not supported"));
        }
        let path = if reference.starts_with('/') {
            reference.to_owned()
        } else {
            let dir_end = self.path.rfind('/').map_or(0, |i| i + 1);
            format!(
                "/{}{}",
                &self.path[..dir_end].trim_start_matches('/'),
                reference
            )
        };
        check_path(reference, &path)?;
        Ok(HttpUrl {
            addr: self.addr,
            path,
        })
    }

    /// The `Host` header value.
    fn host_header(&self) -> String {
        self.addr.to_string()
    }
}

/// A fully read HTTP response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body (de-chunked), at most [`MAX_HTTP_RESPONSE_BYTES`].
    pub body: Vec<u8>,
    /// Our own address on the connection: the address the gateway sees us as.
    pub local_ip: IpAddr,
}

/// Sends one request with `Connection: close` and reads the whole bounded response.
pub(crate) async fn request(
    url: &HttpUrl,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, NatError> {
    tokio::time::timeout(
        HTTP_REQUEST_TIMEOUT,
        request_inner(url, method, headers, body),
    )
    .await
    .map_err(|_| NatError::Timeout {
        what: "HTTP request to the gateway",
        after: HTTP_REQUEST_TIMEOUT,
    })?
}

async fn request_inner(
    url: &HttpUrl,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, NatError> {
    let mut stream = TcpStream::connect(url.addr)
        .await
        .map_err(|e| NatError::io("connecting to the gateway", e))?;
    let local_ip = stream
        .local_addr()
        .map_err(|e| NatError::io("reading local address", e))?
        .ip();
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        url.path,
        url.host_header(),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    stream
        .write_all(&out)
        .await
        .map_err(|e| NatError::io("sending HTTP request", e))?;

    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| NatError::io("reading HTTP response", e))?;
        if n == 0 {
            break;
        }
        if buf.len() + n > MAX_HTTP_RESPONSE_BYTES {
            return Err(NatError::Http {
                url: url.to_string(),
                reason: "response larger than 256 KiB",
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(done) = complete_length(&buf) {
            if buf.len() >= done {
                buf.truncate(done);
                break;
            }
        }
    }
    let (status, body) = parse_response(&buf).map_err(|reason| NatError::Http {
        url: url.to_string(),
        reason,
    })?;
    Ok(HttpResponse {
        status,
        body,
        local_ip,
    })
}

/// Total response length if the headers are complete and carry a Content-Length.
fn complete_length(buf: &[u8]) -> Option<usize> {
    let end = find_header_end(buf)?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let len = head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    })?;
    Some(end + 4 + len)
}

fn find_header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Splits a complete response into status and (de-chunked) body.
pub(crate) fn parse_response(buf: &[u8]) -> Result<(u16, Vec<u8>), &'static str> {
    let end = match find_header_end(buf) {
        Some(end) if end <= MAX_HTTP_HEADER_BYTES => end,
        Some(_) => return Err("header block too large"),
        None if buf.len() > MAX_HTTP_HEADER_BYTES => return Err("header block too large"),
        None => return Err("incomplete header block"),
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "header block is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1.x status line");
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..=999).contains(s))
        .ok_or("bad status code")?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err("header line without ':'");
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| "bad Content-Length")?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.trim().eq_ignore_ascii_case("chunked");
        }
    }
    let raw = &buf[end + 4..];
    let body = if chunked {
        dechunk(raw)?
    } else if let Some(len) = content_length {
        raw.get(..len)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        raw.to_vec()
    };
    Ok((status, body))
}

/// Decodes a chunked body; sizes are checked against the input before copying.
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line not terminated")?;
        let line = std::str::from_utf8(&raw[..line_end]).map_err(|_| "chunk size is not ASCII")?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        if hex.is_empty() || hex.len() > 8 {
            return Err("bad chunk size");
        }
        let size = usize::from_str_radix(hex, 16).map_err(|_| "bad chunk size")?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let data = raw.get(..size).ok_or("chunk longer than the response")?;
        out.extend_from_slice(data);
        raw = raw.get(size + 2..).ok_or("chunk not terminated")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_joins_urls() {
        let base = HttpUrl::parse("http://127.0.0.1:5000/igd/desc.xml").unwrap();
        assert_eq!(base.addr, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(base.join("/ctl/IPConn").unwrap().path, "/ctl/IPConn");
        assert_eq!(base.join("ctl").unwrap().path, "/igd/ctl");
        assert_eq!(
            base.join("http://127.0.0.2:80/x").unwrap().to_string(),
            "http://127.0.0.2:80/x"
        );
        let v6 = HttpUrl::parse("HTTP://[::1]:8080").unwrap();
        assert_eq!(v6.path, "/");
        assert_eq!(v6.addr.port(), 8080);
        assert_eq!(HttpUrl::parse("http://10.0.0.1/").unwrap().addr.port(), 80);
        for bad in [
            "https://1.2.3.4/",
            "http://router.local/",
            "http://1.2.3.4:99999/",
            "http://1.2.3.4:0/",
            "http://u@1.2.3.4/",
            "http://1.2.3.4/a b",
            "http://1.2.3.4/a\r\nX: y",
            "http://[::1/",
        ] {
            assert!(
                matches!(HttpUrl::parse(bad), Err(NatError::InvalidUrl { .. })),
                "{bad}"
            );
        }
        assert!(base.join("//1.2.3.4/x").is_err());
        assert!(base.join("").is_err());
    }

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello+junk";
        assert_eq!(parse_response(plain).unwrap(), (200, b"hello".to_vec()));
        let chunked = b"HTTP/1.1 500 Err\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (500, b"abcde".to_vec()));
        let eof = b"HTTP/1.0 200 OK\r\n\r\nbody";
        assert_eq!(parse_response(eof).unwrap(), (200, b"body".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_err());
        assert!(parse_response(b"SIP/2.0 200 OK\r\n\r\n").is_err());
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\nab"
        )
        .is_err());
    }

    #[tokio::test]
    async fn oversized_response_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url =
            HttpUrl::parse(&format!("http://{}/big", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head).await;
            let body = vec![b'x'; MAX_HTTP_RESPONSE_BYTES + 1];
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
            let _ = stream.write_all(&body).await;
        });
        let err = request(&url, "GET", &[], &[]).await.unwrap_err();
        assert!(matches!(err, NatError::Http { .. }), "{err}");
        server.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = HttpUrl::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let err = request(&url, "GET", &[], &[]).await.unwrap_err();
        assert!(
            matches!(err, NatError::Timeout { after, .. } if after == HTTP_REQUEST_TIMEOUT),
            "{err}"
        );
        assert!(err.is_transient());
    }

    proptest! {
        #[test]
        fn random_responses_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_response(&bytes);
            let mut framed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = parse_response(&framed);
        }

        #[test]
        fn random_urls_never_panic(url in ".{0,80}", reference in ".{0,40}") {
            if let Ok(u) = HttpUrl::parse(&format!("http://{url}")) {
                let _ = u.join(&reference);
            }
            let _ = HttpUrl::parse(&url);
        }
    }
}
