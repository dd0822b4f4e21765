//! The one error type of the Rust core. The Python binding maps each kind to an exception:
//! `Shape` and `Value` to `ValueError`, `Type` to `TypeError`.

use std::fmt;

/// Everything that can go wrong in the core, with a message that names what was expected and
/// what was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// An array has the wrong number of dimensions or the wrong extent along one.
    Shape(String),
    /// A value is out of its range, an unknown name, or not finite.
    Value(String),
    /// A value of the wrong kind (e.g. a layer that is not trainable asked for its weights).
    Type(String),
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Shape(s) | CoreError::Value(s) | CoreError::Type(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for CoreError {}

pub type Result<T> = std::result::Result<T, CoreError>;

/// Checks that a hyperparameter is a positive finite number; `name` names it in the message.
pub fn check_positive(name: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(CoreError::Value(format!(
            "{name} must be a positive finite number, got {value}"
        )))
    }
}

/// Checks that an array has the expected shape; `what` names it in the message.
pub fn expect_shape(what: &str, expected: &[usize], given: &[usize]) -> Result<()> {
    if expected == given {
        Ok(())
    } else {
        Err(CoreError::Shape(format!(
            "{what}: expected shape {expected:?}, got {given:?}"
        )))
    }
}
