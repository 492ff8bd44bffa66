//! The stores under test, one module each.

pub mod ledger;
pub mod postgres;
pub mod redb;
pub mod redis;
pub mod sled;
