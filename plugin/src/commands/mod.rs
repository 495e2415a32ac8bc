//! One file per command: the orchestration of what the layers below provide.

pub mod login;
pub mod pull;
pub mod push;
pub mod search;
pub mod tags;
