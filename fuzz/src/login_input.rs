//! The layout of a `login_body` input: a `Content-Type` value, then the request body.

/// One `login_body` input.
///
/// Layout: the bytes before the first `\n` are the `Content-Type` value and the bytes after
/// it are the body. An input without `\n` is a request without `Content-Type`, all body. A
/// value that is not UTF-8 also counts as no header, because the server reads
/// `Content-Type` as text and treats a value that is not text as missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginInput<'a> {
    /// The `Content-Type` header value, if the request has a readable one.
    pub content_type: Option<&'a str>,
    /// The request body.
    pub body: &'a [u8],
}

impl<'a> LoginInput<'a> {
    /// Splits fuzzer bytes into an input. Every byte string is an input.
    pub fn parse(data: &'a [u8]) -> Self {
        match data.iter().position(|&byte| byte == b'\n') {
            Some(end) => Self {
                content_type: std::str::from_utf8(&data[..end]).ok(),
                body: &data[end + 1..],
            },
            None => Self {
                content_type: None,
                body: data,
            },
        }
    }

    /// Encodes the input in the layout that [`LoginInput::parse`] reads.
    ///
    /// # Panics
    ///
    /// Panics if the layout cannot carry the input: a `Content-Type` with a `\n`, or no
    /// `Content-Type` and a body with a `\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        match self.content_type {
            Some(content_type) => {
                assert!(!content_type.contains('\n'), "Content-Type contains \\n");
                bytes.extend_from_slice(content_type.as_bytes());
                bytes.push(b'\n');
            }
            None => assert!(
                !self.body.contains(&b'\n'),
                "a body without Content-Type contains \\n"
            ),
        }
        bytes.extend_from_slice(self.body);
        bytes
    }
}
