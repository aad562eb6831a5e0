//! Requests the reference does not handle.
//!
//! The connection layer already refuses API keys and versions missing from
//! [`super::SUPPORTED`] (so clients, which read ApiVersions first, never send them). This is
//! the last guard: a decoded request with no handler is logged and the connection closed,
//! never answered with a made-up response.

use kafka_protocol::messages::RequestKind;

use super::Reply;

/// Versions this module handles: none.
pub fn reply(request: RequestKind) -> Reply {
    Reply::Close(format!(
        "no handler for request {:?}",
        std::mem::discriminant(&request)
    ))
}
