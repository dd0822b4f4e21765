//! Learning-rate schedules: α as a function of the update step and the epoch.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::{check_positive, CoreError, Result};
use crate::schema::{config, take_tag};

/// How α changes during training. Serialized with a `"type"` tag:
/// `{"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "epochs_per_drop": 10}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Schedule {
    /// α constant.
    Constant { learning_rate: f64 },
    /// α = α0 · drop^⌊epoch / epochs_per_drop⌋ (the epoch counted from 0).
    StepDecay {
        initial_learning_rate: f64,
        drop: f64,
        epochs_per_drop: u64,
    },
    /// α = α0 · rate^(step / decay_steps), with ⌊step / decay_steps⌋ when `staircase`
    /// (Keras' ExponentialDecay; the step counted from 0).
    ExponentialDecay {
        initial_learning_rate: f64,
        decay_rate: f64,
        decay_steps: u64,
        staircase: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstantConfig {
    learning_rate: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepDecayConfig {
    initial_learning_rate: f64,
    drop: f64,
    epochs_per_drop: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExponentialDecayConfig {
    initial_learning_rate: f64,
    decay_rate: f64,
    decay_steps: u64,
    staircase: bool,
}

/// The `"type"` tag picks the config struct, whose errors name the field.
impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let mut fields = Map::<String, Value>::deserialize(deserializer)?;
        match take_tag::<D::Error>(&mut fields)?.as_str() {
            "constant" => {
                let c: ConstantConfig = config(fields)?;
                Ok(Schedule::Constant {
                    learning_rate: c.learning_rate,
                })
            }
            "step_decay" => {
                let c: StepDecayConfig = config(fields)?;
                Ok(Schedule::StepDecay {
                    initial_learning_rate: c.initial_learning_rate,
                    drop: c.drop,
                    epochs_per_drop: c.epochs_per_drop,
                })
            }
            "exponential_decay" => {
                let c: ExponentialDecayConfig = config(fields)?;
                Ok(Schedule::ExponentialDecay {
                    initial_learning_rate: c.initial_learning_rate,
                    decay_rate: c.decay_rate,
                    decay_steps: c.decay_steps,
                    staircase: c.staircase,
                })
            }
            other => Err(D::Error::custom(format!(
                "type: unknown schedule {other:?}, expected \"constant\", \"step_decay\" or \
                 \"exponential_decay\""
            ))),
        }
    }
}

impl Schedule {
    /// α for update number `step` (from 0) in epoch `epoch` (from 0).
    pub fn at(&self, step: u64, epoch: u64) -> f64 {
        match *self {
            Schedule::Constant { learning_rate } => learning_rate,
            Schedule::StepDecay {
                initial_learning_rate,
                drop,
                epochs_per_drop,
            } => initial_learning_rate * drop.powf((epoch / epochs_per_drop) as f64),
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_rate,
                decay_steps,
                staircase,
            } => {
                let p = step as f64 / decay_steps as f64;
                initial_learning_rate * decay_rate.powf(if staircase { p.floor() } else { p })
            }
        }
    }

    pub fn check(&self) -> Result<()> {
        let positive = check_positive;
        let count = |name: &str, v: u64| {
            if v > 0 {
                Ok(())
            } else {
                Err(CoreError::Value(format!(
                    "{name} must be a positive integer, got 0"
                )))
            }
        };
        match *self {
            Schedule::Constant { learning_rate } => positive("learning_rate", learning_rate),
            Schedule::StepDecay {
                initial_learning_rate,
                drop,
                epochs_per_drop,
            } => positive("initial_learning_rate", initial_learning_rate)
                .and(positive("drop", drop))
                .and(count("epochs_per_drop", epochs_per_drop)),
            Schedule::ExponentialDecay {
                initial_learning_rate,
                decay_rate,
                decay_steps,
                ..
            } => positive("initial_learning_rate", initial_learning_rate)
                .and(positive("decay_rate", decay_rate))
                .and(count("decay_steps", decay_steps)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_values() {
        let s = Schedule::StepDecay {
            initial_learning_rate: 0.1,
            drop: 0.5,
            epochs_per_drop: 10,
        };
        assert_eq!(
            [s.at(0, 0), s.at(99, 9), s.at(0, 10), s.at(0, 25)],
            [0.1, 0.1, 0.05, 0.025]
        );
        let e = Schedule::ExponentialDecay {
            initial_learning_rate: 1.0,
            decay_rate: 0.5,
            decay_steps: 4,
            staircase: false,
        };
        assert!((e.at(2, 0) - 0.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(e.at(8, 0), 0.25);
        let e = Schedule::ExponentialDecay {
            initial_learning_rate: 1.0,
            decay_rate: 0.5,
            decay_steps: 4,
            staircase: true,
        };
        assert_eq!([e.at(3, 0), e.at(4, 0), e.at(7, 0)], [1.0, 0.5, 0.5]);
        assert!(Schedule::Constant { learning_rate: 0.0 }.check().is_err());
    }
}
