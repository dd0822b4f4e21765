//! Layer types, one file each.

pub mod dense;

pub use dense::Dense;
