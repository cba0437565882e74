//! Reading small JSON request bodies with a size limit, before any parsing.

use trillium::{Conn, KnownHeaderName};

use crate::login_body::{is_json_media_type, LoginBodyError};

/// Reads the body of `conn` if it is JSON of at most `max_len` bytes.
///
/// The media type and a declared `Content-Length` are checked before reading, so an oversized
/// body is rejected without being read. With `optional`, a request without a body (no
/// `Content-Type` and a zero or missing `Content-Length`) gives `Ok(None)`.
pub async fn read_json_body(
    conn: &mut Conn,
    max_len: usize,
    optional: bool,
) -> Result<Option<Vec<u8>>, LoginBodyError> {
    let headers = conn.request_headers();
    let content_type = headers.get_str(KnownHeaderName::ContentType);
    let declared_length = headers.content_length();
    let is_chunked = headers.has_header(KnownHeaderName::TransferEncoding);
    if optional && content_type.is_none() && !is_chunked && declared_length.unwrap_or(0) == 0 {
        return Ok(None);
    }
    if !is_json_media_type(content_type) {
        return Err(LoginBodyError::UnsupportedMediaType);
    }
    if declared_length.is_some_and(|length| length > max_len as u64) {
        return Err(LoginBodyError::TooLarge);
    }
    match conn
        .request_body()
        .with_max_len(max_len as u64)
        .read_bytes()
        .await
    {
        Ok(body) => Ok(Some(body)),
        Err(trillium::Error::ReceivedBodyTooLong(_)) => Err(LoginBodyError::TooLarge),
        // trillium-http 1.6.1 reports a chunked body past the limit as this I/O error kind.
        Err(trillium::Error::Io(error)) if error.kind() == std::io::ErrorKind::Unsupported => {
            Err(LoginBodyError::TooLarge)
        }
        Err(error) => {
            log::debug!("cannot read a request body: {error}");
            Err(LoginBodyError::InvalidJson)
        }
    }
}
