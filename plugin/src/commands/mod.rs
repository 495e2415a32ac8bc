//! One file per command: the orchestration of what the layers below provide.

mod artifact;
pub mod cache;
pub mod copy;
pub mod dependency;
pub mod index;
pub mod login;
pub mod pull;
pub mod push;
pub mod save;
pub mod search;
pub mod tag;
pub mod tags;
