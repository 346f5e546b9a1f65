//! Mock integration: a static response from the configuration, no backend.

use crate::config::Mock;
use crate::pipeline::response::{self, Common};

/// Append the whole response to `out`; `head_only` for HEAD requests.
pub fn write(out: &mut Vec<u8>, mock: &Mock, c: &Common<'_>, head_only: bool) {
    response::status_line(out, mock.status, response::reason(mock.status).as_bytes());
    response::common_headers(out, c);
    for (name, value) in &mock.headers {
        response::header(out, name.as_bytes(), value.as_bytes());
    }
    response::content_length(out, mock.body.len() as u64);
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(&mock.body);
    }
}
