//! Optimizers: how (16)–(17) update the parameters from their gradients. Each kernel is one
//! fused, in-place pass per parameter; the state they keep (velocities, running means) lives
//! here, so it is part of the model and training resumes where it stopped.

pub mod adam;
pub mod momentum;
pub mod rmsprop;
pub mod schedule;
pub mod sgd;

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
use serde::{Deserialize, Serialize};

pub use adam::adam_update;
pub use momentum::momentum_update;
pub use rmsprop::rmsprop_update;
pub use schedule::Schedule;
pub use sgd::sgd_update;

use crate::error::{check_positive, CoreError, Result};
use crate::layer::Layer;
use crate::limits::MAX_COUNTER;
use crate::scalar::Float;

/// Which update rule, with its hyperparameters.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerKind {
    /// (16)–(17): p −= α g.
    Sgd,
    /// v = β v + g; p −= α v.
    Momentum { beta: f64 },
    /// s = ρ s + (1 − ρ) g²; p −= α g / (√s + ε).
    RmsProp { rho: f64, eps: f64 },
    /// Adam with bias correction.
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

impl OptimizerKind {
    /// The name used by `fit(optimizer=...)`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum { .. } => "momentum",
            OptimizerKind::RmsProp { .. } => "rmsprop",
            OptimizerKind::Adam { .. } => "adam",
        }
    }

    /// Names of the state arrays kept per parameter.
    pub fn slot_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerKind::Sgd => &[],
            OptimizerKind::Momentum { .. } => &["velocity"],
            OptimizerKind::RmsProp { .. } => &["mean_square"],
            OptimizerKind::Adam { .. } => &["m", "v"],
        }
    }

    /// The rule `name` ("sgd", "momentum", "rmsprop", "adam") with the hyperparameters in
    /// `hyper` (missing ones take their defaults; unknown ones are an error).
    pub fn from_parts(name: &str, hyper: &BTreeMap<String, f64>) -> Result<Self> {
        let allowed: &[&str] = match name {
            "sgd" => &[],
            "momentum" => &["beta"],
            "rmsprop" => &["rho", "eps"],
            "adam" => &["beta1", "beta2", "eps"],
            other => {
                return Err(CoreError::Value(format!(
                    "optimizer: expected one of ['sgd', 'momentum', 'rmsprop', 'adam'], got \
                     {other:?}"
                )))
            }
        };
        if let Some(bad) = hyper.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(CoreError::Value(format!(
                "optimizer {name}: unknown hyperparameter {bad:?}, expected one of {allowed:?}"
            )));
        }
        let get = |key: &str, default: f64| hyper.get(key).copied().unwrap_or(default);
        let kind = match name {
            "sgd" => OptimizerKind::Sgd,
            "momentum" => OptimizerKind::Momentum {
                beta: get("beta", 0.9),
            },
            "rmsprop" => OptimizerKind::RmsProp {
                rho: get("rho", 0.9),
                eps: get("eps", 1e-7),
            },
            _ => OptimizerKind::Adam {
                beta1: get("beta1", 0.9),
                beta2: get("beta2", 0.999),
                eps: get("eps", 1e-8),
            },
        };
        kind.check()?;
        Ok(kind)
    }

    /// The hyperparameters by name (the inverse of [`OptimizerKind::from_parts`]).
    pub fn hyper(&self) -> BTreeMap<String, f64> {
        let pairs: Vec<(&str, f64)> = match *self {
            OptimizerKind::Sgd => vec![],
            OptimizerKind::Momentum { beta } => vec![("beta", beta)],
            OptimizerKind::RmsProp { rho, eps } => vec![("rho", rho), ("eps", eps)],
            OptimizerKind::Adam { beta1, beta2, eps } => {
                vec![("beta1", beta1), ("beta2", beta2), ("eps", eps)]
            }
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn check(&self) -> Result<()> {
        let unit = |name: &str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(CoreError::Value(format!(
                    "{name} must be in [0, 1), got {v}"
                )))
            }
        };
        let positive = check_positive;
        match *self {
            OptimizerKind::Sgd => Ok(()),
            OptimizerKind::Momentum { beta } => unit("beta", beta),
            OptimizerKind::RmsProp { rho, eps } => unit("rho", rho).and(positive("eps", eps)),
            OptimizerKind::Adam { beta1, beta2, eps } => unit("beta1", beta1)
                .and(unit("beta2", beta2))
                .and(positive("eps", eps)),
        }
    }
}

/// An optimizer as a model file stores it: `{"kind": "adam", "hyper": {"beta1": 0.9, ...},
/// "schedule": {"type": "constant", "learning_rate": 0.001}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    pub kind: String,
    #[serde(default)]
    pub hyper: BTreeMap<String, f64>,
    pub schedule: Schedule,
}

impl OptimizerConfig {
    /// The rule and schedule, checked.
    pub fn parts(&self) -> Result<(OptimizerKind, Schedule)> {
        let kind = OptimizerKind::from_parts(&self.kind, &self.hyper)?;
        self.schedule.check()?;
        Ok((kind, self.schedule.clone()))
    }
}

/// An update rule, its learning-rate schedule and its state.
#[derive(Clone, Debug)]
pub struct Optimizer<F: Float> {
    kind: OptimizerKind,
    schedule: Schedule,
    /// Per parameter (in the order the network visits them), the state arrays of the rule.
    state: Vec<Vec<ArrayD<F>>>,
    /// Updates made so far: t of Adam's bias correction, the step of the schedules.
    iterations: u64,
    /// Epochs completed so far, for per-epoch schedules.
    epochs: u64,
}

impl<F: Float> Optimizer<F> {
    pub fn new(kind: OptimizerKind, schedule: Schedule) -> Result<Self> {
        kind.check()?;
        schedule.check()?;
        Ok(Optimizer {
            kind,
            schedule,
            state: Vec::new(),
            iterations: 0,
            epochs: 0,
        })
    }

    /// Plain gradient descent at a constant rate: the lecture's (16)–(17).
    pub fn sgd(learning_rate: f64) -> Result<Self> {
        Self::new(OptimizerKind::Sgd, Schedule::Constant { learning_rate })
    }

    pub fn kind(&self) -> &OptimizerKind {
        &self.kind
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    pub fn epochs(&self) -> u64 {
        self.epochs
    }

    /// Keeps the state but changes the schedule (a new `learning_rate` for a resumed fit).
    pub fn set_schedule(&mut self, schedule: Schedule) -> Result<()> {
        schedule.check()?;
        self.schedule = schedule;
        Ok(())
    }

    /// α for the next update.
    pub fn learning_rate(&self) -> f64 {
        self.schedule.at(self.iterations, self.epochs)
    }

    /// Counts a completed epoch (for per-epoch schedules).
    pub fn end_epoch(&mut self) {
        self.epochs += 1;
    }

    /// One update of every parameter of `layers` from the gradients of the last backward pass.
    pub fn step(&mut self, layers: &mut [Box<dyn Layer<F>>]) {
        let rule = self.begin_step();
        let slots = self.kind.slot_names().len();
        let state = &mut self.state;
        let mut index = 0;
        for layer in layers.iter_mut() {
            if !layer.trainable() {
                // frozen: its parameters keep their values and their (zero) optimizer state
                for p in layer.params() {
                    ensure_slots(state, slots, index, p.shape());
                    index += 1;
                }
                continue;
            }
            layer.for_each_param_grad(&mut |p: ArrayViewMutD<'_, F>, g: ArrayViewD<'_, F>| {
                ensure_slots(state, slots, index, p.shape());
                let mut s = state[index].iter_mut().map(|s| s.view_mut());
                rule.apply(p, g, [s.next(), s.next()]);
                index += 1;
            });
        }
    }

    /// Makes the state arrays of parameter `index` (zeros of `shape`) if they are missing or
    /// of another shape: done once, so that a step allocates nothing after the first.
    pub(crate) fn ensure_slots(&mut self, index: usize, shape: &[usize]) {
        let slots = self.kind.slot_names().len();
        ensure_slots(&mut self.state, slots, index, shape);
    }

    /// Counts an update and returns its rule: α from the schedule and Adam's step number.
    /// The parameters are then updated with [`StepRule::apply`], whole or in pieces.
    pub(crate) fn begin_step(&mut self) -> StepRule<F> {
        let learning_rate = F::c(self.learning_rate());
        self.iterations += 1;
        StepRule {
            kind: self.kind.clone(),
            learning_rate,
            t: self.iterations,
        }
    }

    /// The state arrays of parameter `index` (see [`Optimizer::ensure_slots`]).
    pub(crate) fn slots_mut(&mut self, index: usize) -> &mut [ArrayD<F>] {
        &mut self.state[index]
    }

    /// The state arrays, per parameter (empty until the first step).
    pub fn state(&self) -> &[Vec<ArrayD<F>>] {
        &self.state
    }

    /// Checks state for [`Optimizer::set_state`] against the parameters' shapes
    /// (`param_shapes`, in the order the network visits them) without changing anything:
    /// either no state (before the first step) or every slot of every parameter, each of its
    /// parameter's shape; counters at most [`MAX_COUNTER`].
    pub fn check_state(
        &self,
        param_shapes: &[Vec<usize>],
        state_shapes: &[Vec<Vec<usize>>],
        iterations: u64,
        epochs: u64,
    ) -> Result<()> {
        for (name, value) in [
            ("optimizer_iterations", iterations),
            ("optimizer_epochs", epochs),
        ] {
            if value > MAX_COUNTER {
                return Err(CoreError::Value(format!(
                    "{name}: expected at most {MAX_COUNTER}, got {value}"
                )));
            }
        }
        if state_shapes.is_empty() {
            return Ok(());
        }
        let slots = self.kind.slot_names();
        if state_shapes.len() != param_shapes.len() {
            return Err(CoreError::Value(format!(
                "optimizer state: expected arrays for the {} parameters, got {}",
                param_shapes.len(),
                state_shapes.len()
            )));
        }
        for (p, (shapes, expected)) in state_shapes.iter().zip(param_shapes).enumerate() {
            if shapes.len() != slots.len() {
                return Err(CoreError::Value(format!(
                    "optimizer state of parameter {p}: {} keeps {} arrays {slots:?}, got {}",
                    self.kind.name(),
                    slots.len(),
                    shapes.len()
                )));
            }
            for (slot, shape) in slots.iter().zip(shapes) {
                if shape != expected {
                    return Err(CoreError::Shape(format!(
                        "optimizer.{p}.{slot}: expected shape {expected:?} (its parameter's), \
                         got {shape:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Restores state saved by [`Optimizer::state`] and the counters, after
    /// [`Optimizer::check_state`] against `param_shapes`; on error nothing changes.
    pub fn set_state(
        &mut self,
        param_shapes: &[Vec<usize>],
        state: Vec<Vec<ArrayD<F>>>,
        iterations: u64,
        epochs: u64,
    ) -> Result<()> {
        let shapes: Vec<Vec<Vec<usize>>> = state
            .iter()
            .map(|s| s.iter().map(|a| a.shape().to_vec()).collect())
            .collect();
        self.check_state(param_shapes, &shapes, iterations, epochs)?;
        self.state = state;
        self.iterations = iterations;
        self.epochs = epochs;
        Ok(())
    }
}

/// [`Optimizer::ensure_slots`] on the state arrays, `slots` per parameter.
fn ensure_slots<F: Float>(
    state: &mut Vec<Vec<ArrayD<F>>>,
    slots: usize,
    index: usize,
    shape: &[usize],
) {
    while state.len() <= index {
        state.push(Vec::new());
    }
    let s = &mut state[index];
    if s.len() != slots || s.first().is_some_and(|a| a.shape() != shape) {
        *s = (0..slots).map(|_| ArrayD::zeros(shape)).collect();
    }
}

/// One update's rule: what [`Optimizer::begin_step`] fixed for every parameter of the step.
/// Each parameter can be updated whole or in pieces (rows, from several threads): every rule
/// is element-wise, so the pieces get the bits of the whole.
#[derive(Clone, Debug)]
pub(crate) struct StepRule<F> {
    kind: OptimizerKind,
    learning_rate: F,
    t: u64,
}

impl<F: Float> StepRule<F> {
    /// Updates `p` from `g` with the rule's state arrays in `slots` (velocity; mean square;
    /// m and v; `None` past the rule's count), each of `p`'s shape.
    pub(crate) fn apply<D: ndarray::Dimension>(
        &self,
        p: ndarray::ArrayViewMut<'_, F, D>,
        g: ndarray::ArrayView<'_, F, D>,
        slots: [Option<ndarray::ArrayViewMut<'_, F, D>>; 2],
    ) {
        let lr = self.learning_rate;
        match (&self.kind, slots) {
            (OptimizerKind::Sgd, _) => sgd_update(p, g, lr),
            (OptimizerKind::Momentum { beta }, [Some(v), _]) => {
                momentum_update(p, g, v, lr, F::c(*beta))
            }
            (OptimizerKind::RmsProp { rho, eps }, [Some(s), _]) => {
                rmsprop_update(p, g, s, lr, F::c(*rho), F::c(*eps))
            }
            (OptimizerKind::Adam { beta1, beta2, eps }, [Some(m), Some(v)]) => adam_update(
                p,
                g,
                m,
                v,
                lr,
                (F::c(*beta1), F::c(*beta2), F::c(*eps)),
                self.t,
            ),
            (kind, _) => unreachable!(
                "{} needs its {} state arrays",
                kind.name(),
                kind.slot_names().len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::array;

    #[test]
    fn hand_computed_steps() {
        // one parameter p = 1, gradient g = 0.5, two steps
        let g = array![0.5];
        let mut p = array![1.0];
        let mut v = array![0.0];
        momentum_update(p.view_mut(), g.view(), v.view_mut(), 0.1, 0.9);
        momentum_update(p.view_mut(), g.view(), v.view_mut(), 0.1, 0.9);
        // v1 = 0.5, p1 = 0.95; v2 = 0.45 + 0.5 = 0.95, p2 = 0.95 − 0.095
        assert_abs_diff_eq!(p[0], 0.855, epsilon = 1e-15);

        let mut p = array![1.0];
        let mut s = array![0.0];
        rmsprop_update(p.view_mut(), g.view(), s.view_mut(), 0.01, 0.9, 1e-7);
        // s = 0.1 · 0.25 = 0.025, p = 1 − 0.01 · 0.5 / (√0.025 + 1e-7)
        assert_abs_diff_eq!(
            p[0],
            1.0 - 0.005 / (0.025f64.sqrt() + 1e-7),
            epsilon = 1e-15
        );

        let mut p = array![1.0];
        let (mut m, mut v) = (array![0.0], array![0.0]);
        adam_update(
            p.view_mut(),
            g.view(),
            m.view_mut(),
            v.view_mut(),
            0.001,
            (0.9, 0.999, 1e-8),
            1,
        );
        // first Adam step: m̂ = g, v̂ = g², so p −= α g / (|g| + ε) ≈ α
        assert_abs_diff_eq!(p[0], 1.0 - 0.001 * 0.5 / (0.5 + 1e-8), epsilon = 1e-15);
    }

    #[test]
    fn hyperparameters_are_checked() {
        assert!(Optimizer::<f32>::new(
            OptimizerKind::Momentum { beta: 1.0 },
            Schedule::Constant { learning_rate: 0.1 }
        )
        .is_err());
        assert!(Optimizer::<f32>::new(
            OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 0.0
            },
            Schedule::Constant { learning_rate: 0.1 }
        )
        .is_err());
        assert!(Optimizer::<f32>::sgd(-1.0).is_err());
    }
}
