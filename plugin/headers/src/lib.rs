//! What the helm-oci component and its host must read alike from the network.
//!
//! The host grants a token realm because a registry's challenge names it and a redirect
//! target because a `Location` names it; the component follows the same headers. Parsed by
//! one implementation, the two sides cannot disagree about where a request may go. And
//! both show text a server sent only once it is made printable, and a system's failure in
//! the same words.

mod challenge;
mod link;
#[cfg(test)]
mod properties;
mod text;
mod url;

pub use challenge::Challenge;
pub use link::next_link;
pub use text::{is_format, printable, system_words};
pub use url::{Url, encode_query, form, percent_decode};
