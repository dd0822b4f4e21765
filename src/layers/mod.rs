//! Layer types, one file each.

pub mod dense;
pub mod dropout;

pub use dense::Dense;
pub use dropout::Dropout;
