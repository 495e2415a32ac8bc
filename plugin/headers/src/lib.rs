//! The HTTP header grammar that the helm-oci component and its host must read alike.
//!
//! The host grants a token realm because a registry's challenge names it and a redirect
//! target because a `Location` names it; the component follows the same headers. Parsed by
//! one implementation, the two sides cannot disagree about where a request may go.

mod challenge;
mod link;
mod url;

pub use challenge::Challenge;
pub use link::next_link;
pub use url::{Url, decode_query, encode_query, form, percent_decode};
