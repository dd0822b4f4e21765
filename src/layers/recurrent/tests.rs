//! Recurrent layers against an explicit per-example time loop, and their gradients against
//! central finite differences of J = Σ R ⊙ A.

use ndarray::{s, Array1, Array2, Array3, ArrayD, Axis, IxDyn, ShapeBuilder};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Uniform};

use super::*;
use crate::activation::Activation;
use crate::layers::{LayerConfig, LayerSpec};
use crate::matmul::{configured_threads, in_pool, set_num_threads};

const CELLS: [Cell; 3] = [Cell::SimpleRnn(Activation::Tanh), Cell::Gru, Cell::Lstm];

fn uniform_array(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let u = Uniform::new(-1.0, 1.0).unwrap();
    ArrayD::from_shape_fn(IxDyn(shape), |_| u.sample(&mut rng))
}

fn input(n_x: usize, time: usize, m: usize, seed: u64) -> Array3<f64> {
    uniform_array(&[n_x, time, m], seed)
        .into_dimensionality()
        .unwrap()
}

fn layer(cell: Cell, n_x: usize, time: usize, u: usize, rs: bool, seed: u64) -> Recurrent<f64> {
    let mut l = Recurrent::new(cell, n_x, time, u, rs, 0.0).unwrap();
    l.initialize(&mut ChaCha8Rng::seed_from_u64(seed));
    l
}

fn spec(cell: Cell, units: usize, rs: bool) -> RecurrentSpec {
    match cell {
        Cell::SimpleRnn(activation) => RecurrentSpec::SimpleRnn(SimpleRnnConfig {
            units,
            activation,
            return_sequences: rs,
            l2: 0.0,
        }),
        Cell::Gru => RecurrentSpec::Gru(GruConfig {
            units,
            return_sequences: rs,
            l2: 0.0,
        }),
        Cell::Lstm => RecurrentSpec::Lstm(LstmConfig {
            units,
            return_sequences: rs,
            l2: 0.0,
        }),
    }
}

fn bidirectional(cell: Cell, n_x: usize, time: usize, u: usize, rs: bool) -> Box<dyn Layer<f64>> {
    let config = BidirectionalConfig {
        layer: spec(cell, u, rs),
    };
    config.plan(&[n_x, time]).unwrap();
    let mut l = config.build::<f64>(&[n_x, time]).unwrap();
    l.initialize(&mut ChaCha8Rng::seed_from_u64(11));
    l
}

// ---------------------------------------------------------------------------------------------
// The reference: one example at a time, one step at a time, with ndarray's `dot`.

fn sig(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn act(a: Activation, v: f64) -> f64 {
    match a {
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => sig(v),
        Activation::Relu => v.max(0.0),
        Activation::LeakyRelu => {
            if v > 0.0 {
                v
            } else {
                0.2 * v
            }
        }
        Activation::Linear => v,
        Activation::HardSigmoid => (v / 6.0 + 0.5).clamp(0.0, 1.0),
        Activation::Softmax => unreachable!(),
    }
}

/// h_t for every step, (u, time, m), of the cell with parameters `p` = [Wx, Wh, bx, bh].
fn reference(cell: Cell, p: &[Array2<f64>], x: &Array3<f64>) -> Array3<f64> {
    let (wx, wh, bx, bh) = (&p[0], &p[1], &p[2], &p[3]);
    let u = wh.ncols();
    let (_, time, m) = x.dim();
    let mut out = Array3::zeros((u, time, m));
    for i in 0..m {
        let mut h = Array1::<f64>::zeros(u);
        let mut c = Array1::<f64>::zeros(u);
        for t in 0..time {
            let gx = wx.dot(&x.slice(s![.., t, i])) + bx.column(0);
            let gh = wh.dot(&h) + bh.column(0);
            let block = |v: &Array1<f64>, k: usize| v.slice(s![k * u..(k + 1) * u]).to_owned();
            h = match cell {
                Cell::SimpleRnn(a) => (&gx + &gh).mapv(|v| act(a, v)),
                Cell::Gru => {
                    let r = (block(&gx, 0) + block(&gh, 0)).mapv(sig);
                    let z = (block(&gx, 1) + block(&gh, 1)).mapv(sig);
                    let n = (block(&gx, 2) + &r * &block(&gh, 2)).mapv(f64::tanh);
                    z.mapv(|z| 1.0 - z) * &n + &z * &h
                }
                Cell::Lstm => {
                    let pre = &gx + &gh;
                    let i_ = block(&pre, 0).mapv(sig);
                    let f = block(&pre, 1).mapv(sig);
                    let g = block(&pre, 2).mapv(f64::tanh);
                    let o = block(&pre, 3).mapv(sig);
                    c = &f * &c + &i_ * &g;
                    o * c.mapv(f64::tanh)
                }
            };
            out.slice_mut(s![.., t, i]).assign(&h);
        }
    }
    out
}

/// The reference over reversed time, re-reversed: step t of the result read input step t
/// first.
fn reference_reversed(cell: Cell, p: &[Array2<f64>], x: &Array3<f64>) -> Array3<f64> {
    let x_rev = x.slice(s![.., ..;-1, ..]).to_owned();
    reference(cell, p, &x_rev)
        .slice(s![.., ..;-1, ..])
        .to_owned()
}

fn params_of(l: &dyn Layer<f64>) -> Vec<Array2<f64>> {
    l.params()
        .into_iter()
        .map(|p| p.to_owned().into_dimensionality().unwrap())
        .collect()
}

fn last_step(h: &Array3<f64>, t: usize) -> ArrayD<f64> {
    h.index_axis(Axis(1), t).to_owned().into_dyn()
}

fn assert_close(a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    let worst = (a - b).iter().fold(0.0f64, |w, d| w.max(d.abs()));
    assert!(worst <= tol, "{what}: max difference {worst}");
}

#[test]
fn forward_matches_an_explicit_time_loop() {
    let (n_x, time, u, m) = (3, 5, 4, 3);
    let x = input(n_x, time, m, 1);
    let mut cells = CELLS.to_vec();
    cells.extend([
        Cell::SimpleRnn(Activation::Relu),
        Cell::SimpleRnn(Activation::LeakyRelu),
        Cell::SimpleRnn(Activation::Sigmoid),
        Cell::SimpleRnn(Activation::Linear),
    ]);
    for cell in cells {
        for rs in [true, false] {
            for reverse in [false, true] {
                let mut l = layer(cell, n_x, time, u, rs, 2);
                if reverse {
                    l = l.reversed();
                }
                l.forward(x.view().into_dyn(), false).unwrap();
                let p = params_of(&l);
                let expected = if reverse {
                    reference_reversed(cell, &p, &x)
                } else {
                    reference(cell, &p, &x)
                };
                let expected = match (rs, reverse) {
                    (true, _) => expected.into_dyn(),
                    (false, false) => last_step(&expected, time - 1),
                    (false, true) => last_step(&expected, 0),
                };
                let got = l.output(x.view().into_dyn()).to_owned();
                let what = format!("{cell:?} return_sequences={rs} reverse={reverse}");
                assert_close(&got, &expected, 1e-12, &what);
            }
        }
    }
}

#[test]
fn bidirectional_stacks_forward_then_backward_aligned_with_the_input() {
    let (n_x, time, u, m) = (2, 4, 3, 2);
    let x = input(n_x, time, m, 3);
    for cell in CELLS {
        for rs in [true, false] {
            let mut l = bidirectional(cell, n_x, time, u, rs);
            l.forward(x.view().into_dyn(), false).unwrap();
            let p = params_of(l.as_ref());
            let fwd = reference(cell, &p[..4], &x);
            let bwd = reference_reversed(cell, &p[4..], &x);
            let got = l.output(x.view().into_dyn()).to_owned();
            let (f, b) = if rs {
                (fwd.into_dyn(), bwd.into_dyn())
            } else {
                // the forward's last step, and the backward's, which read input step 0 last
                (last_step(&fwd, time - 1), last_step(&bwd, 0))
            };
            let expected = ndarray::concatenate(Axis(0), &[f.view(), b.view()]).unwrap();
            assert_close(&got, &expected, 1e-12, &format!("{cell:?} rs={rs}"));
            assert_eq!(got.shape()[0], 2 * u);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Gradients: central differences of J = Σ R ⊙ A, for every parameter element and A_prev.

fn cost(l: &mut dyn Layer<f64>, x: &Array3<f64>, r: &ArrayD<f64>) -> f64 {
    l.forward(x.view().into_dyn(), false).unwrap();
    (&l.output(x.view().into_dyn()) * r).sum()
}

/// Layer gradients are (1/m)·∂J/∂θ (12)–(13); dA_prev is ∂J/∂A_prev (14).
fn check_gradients(l: &mut dyn Layer<f64>, x: &Array3<f64>, what: &str) {
    let m = x.dim().2;
    let eps = 1e-5;
    let tol = |n: f64| 1e-7 * (1.0 + n.abs());
    l.forward(x.view().into_dyn(), true).unwrap();
    let r = uniform_array(l.output(x.view().into_dyn()).shape(), 99);
    l.backward(x.view().into_dyn(), Upstream::DA(r.view()), true)
        .unwrap();
    let grads: Vec<ArrayD<f64>> = l.grads().iter().map(|g| g.to_owned()).collect();
    let da_prev = l.input_grad(r.view()).to_owned();
    let names: Vec<String> = l.param_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(grads.len(), names.len());
    for (k, name) in names.iter().enumerate() {
        let p0 = l.params()[k].to_owned();
        let cols = p0.shape()[1];
        for idx in 0..p0.len() {
            let mut p = p0.clone();
            p.as_slice_mut().unwrap()[idx] += eps;
            l.set_param(k, p.view()).unwrap();
            let plus = cost(l, x, &r);
            p.as_slice_mut().unwrap()[idx] -= 2.0 * eps;
            l.set_param(k, p.view()).unwrap();
            let minus = cost(l, x, &r);
            let numeric = (plus - minus) / (2.0 * eps);
            let analytic = grads[k].as_slice().unwrap()[idx] * m as f64;
            assert!(
                (analytic - numeric).abs() <= tol(numeric),
                "{what}: {name}[{}, {}]: backward {analytic}, finite difference {numeric}",
                idx / cols,
                idx % cols
            );
        }
        l.set_param(k, p0.view()).unwrap();
    }
    for (idx, _) in x.indexed_iter() {
        let mut xp = x.clone();
        xp[idx] += eps;
        let plus = cost(l, &xp, &r);
        xp[idx] -= 2.0 * eps;
        let minus = cost(l, &xp, &r);
        let numeric = (plus - minus) / (2.0 * eps);
        let analytic = da_prev[[idx.0, idx.1, idx.2]];
        assert!(
            (analytic - numeric).abs() <= tol(numeric),
            "{what}: A_prev{idx:?}: backward {analytic}, finite difference {numeric}"
        );
    }
}

#[test]
fn every_gradient_matches_finite_differences() {
    let (n_x, time, u, m) = (3, 4, 3, 2);
    let x = input(n_x, time, m, 5);
    let mut cells = CELLS.to_vec();
    cells.push(Cell::SimpleRnn(Activation::Sigmoid));
    for cell in cells {
        for rs in [true, false] {
            let mut l = layer(cell, n_x, time, u, rs, 6);
            // biases away from 0, so that every gate block matters
            let bx = uniform_array(&[cell.gates() * u, 1], 7);
            l.set_param(2, bx.view()).unwrap();
            check_gradients(&mut l, &x, &format!("{cell:?} return_sequences={rs}"));
        }
    }
}

#[test]
fn reversed_and_bidirectional_gradients_match_finite_differences() {
    let (n_x, time, u, m) = (2, 4, 2, 3);
    let x = input(n_x, time, m, 8);
    for cell in CELLS {
        for rs in [true, false] {
            let mut l = layer(cell, n_x, time, u, rs, 9).reversed();
            check_gradients(&mut l, &x, &format!("reversed {cell:?} rs={rs}"));
            let mut b = bidirectional(cell, n_x, time, u, rs);
            check_gradients(b.as_mut(), &x, &format!("bidirectional {cell:?} rs={rs}"));
        }
    }
}

#[test]
fn l2_adds_its_penalty_and_lambda_w() {
    let (n_x, time, u, m) = (3, 3, 2, 2);
    let x = input(n_x, time, m, 10);
    let lambda = 0.3;
    for cell in CELLS {
        let mut plain = layer(cell, n_x, time, u, false, 12);
        let mut with_l2 = Recurrent::new(cell, n_x, time, u, false, lambda).unwrap();
        with_l2.initialize(&mut ChaCha8Rng::seed_from_u64(12));
        let r = uniform_array(&[u, m], 13);
        for l in [&mut plain, &mut with_l2] {
            l.forward(x.view().into_dyn(), true).unwrap();
            l.backward(x.view().into_dyn(), Upstream::DA(r.view()), false)
                .unwrap();
        }
        let sq: f64 = plain.wx.iter().chain(&plain.wh).map(|w| w * w).sum();
        assert!((with_l2.penalty() - 0.5 * lambda * sq).abs() < 1e-14);
        assert_eq!(plain.penalty(), 0.0);
        let (gp, gl, p) = (plain.grads(), with_l2.grads(), plain.params());
        for k in 0..4 {
            // Wx and Wh gain λW; the biases nothing
            let expected = if k < 2 {
                &gp[k] + &(&p[k] * lambda)
            } else {
                gp[k].to_owned()
            };
            assert_close(
                &gl[k].to_owned(),
                &expected,
                1e-15,
                &format!("{cell:?} {k}"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The step kernels by hand, determinism, workspaces.

#[test]
fn a_missing_previous_state_is_the_zero_state() {
    let (u, m) = (3, 2);
    for cell in CELLS {
        let rows = cell.gates() * u;
        let wh = uniform_array(&[rows, u], 20).into_dimensionality().unwrap();
        let bh = uniform_array(&[rows, 1], 21).into_dimensionality().unwrap();
        let xw = uniform_array(&[rows, m], 22).into_dimensionality().unwrap();
        let run = |prev: Option<State<f64>>| {
            let mut gates = Array2::zeros((rows, m));
            let mut aux = Array2::zeros((cell.aux_rows(u), m));
            let mut h = Array2::zeros((u, m));
            let mut c = Array2::zeros((cell.c_rows(u), m));
            let out = StepMut {
                gates: gates.view_mut(),
                aux: aux.view_mut(),
                h: h.view_mut(),
                c: c.view_mut(),
            };
            step_forward(cell, wh.view(), bh.view(), xw.view(), prev, out).unwrap();
            (h, c, gates)
        };
        let h0 = Array2::zeros((u, m));
        let c0 = Array2::zeros((cell.c_rows(u), m));
        let explicit = run(Some(State {
            h: h0.view(),
            c: c0.view(),
        }));
        assert_eq!(run(None), explicit, "{cell:?}");
        // a wrong shape is an error, not a panic
        let bad = Array2::zeros((u + 1, m));
        let mut g = Array2::zeros((rows, m));
        let mut a = Array2::zeros((cell.aux_rows(u), m));
        let mut h = Array2::zeros((u, m));
        let mut c = Array2::zeros((cell.c_rows(u), m));
        let out = StepMut {
            gates: g.view_mut(),
            aux: a.view_mut(),
            h: h.view_mut(),
            c: c.view_mut(),
        };
        let prev = State {
            h: bad.view(),
            c: c0.view(),
        };
        assert!(step_forward(cell, wh.view(), bh.view(), xw.view(), Some(prev), out).is_err());
    }
}

/// Output, gradients and dA_prev of one forward and backward pass, as owned arrays.
fn run_once(l: &mut dyn Layer<f64>, x: &Array3<f64>, seed: u64) -> Vec<ArrayD<f64>> {
    l.forward(x.view().into_dyn(), true).unwrap();
    let out = l.output(x.view().into_dyn()).to_owned();
    let r = uniform_array(out.shape(), seed);
    l.backward(x.view().into_dyn(), Upstream::DA(r.view()), true)
        .unwrap();
    let mut all = vec![out];
    all.extend(l.grads().iter().map(|g| g.to_owned()));
    all.push(l.input_grad(r.view()).to_owned());
    all
}

#[test]
fn results_are_bit_identical_for_one_and_two_threads() {
    // large enough that the products are split between threads
    let (n_x, time, u, m) = (32, 6, 64, 160);
    let x = input(n_x, time, m, 30);
    let before = configured_threads();
    for cell in CELLS {
        let mut runs = Vec::new();
        for threads in [1, 2] {
            set_num_threads(threads);
            let mut l = bidirectional(cell, n_x, time, u, true);
            runs.push(in_pool(|| run_once(l.as_mut(), &x, 31)));
        }
        assert_eq!(runs[0], runs[1], "{cell:?}");
    }
    set_num_threads(before);
}

#[test]
fn workspaces_are_reused_for_smaller_and_larger_batches() {
    let (n_x, time, u) = (3, 4, 2);
    for cell in CELLS {
        for rs in [true, false] {
            let mut reused = layer(cell, n_x, time, u, rs, 40);
            for m in [5, 2, 7, 1] {
                let x = input(n_x, time, m, 41 + m as u64);
                let mut fresh = layer(cell, n_x, time, u, rs, 40);
                assert_eq!(
                    run_once(&mut reused, &x, 42),
                    run_once(&mut fresh, &x, 42),
                    "{cell:?} rs={rs} m={m}"
                );
            }
        }
    }
}

#[test]
fn a_non_contiguous_input_gives_the_same_bits() {
    let (n_x, time, u, m) = (3, 4, 2, 5);
    let x = input(n_x, time, m, 50);
    // the same values, Fortran-ordered
    let mut xf = Array3::zeros((n_x, time, m).f());
    xf.assign(&x);
    for cell in CELLS {
        let mut l = layer(cell, n_x, time, u, true, 51);
        let a = run_once(&mut l, &x, 52);
        let b = run_once(&mut l, &xf, 52);
        assert_eq!(a, b, "{cell:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors.

#[test]
fn bad_inputs_are_errors_not_panics() {
    let (n_x, time, u, m) = (3, 4, 2, 2);
    let x = input(n_x, time, m, 60);
    for cell in CELLS {
        let mut l = layer(cell, n_x, time, u, false, 61);
        let r = Array2::<f64>::ones((u, m)).into_dyn();
        // backward before any forward
        assert!(l
            .backward(x.view().into_dyn(), Upstream::DA(r.view()), true)
            .is_err());
        for shape in [&[n_x, time][..], &[n_x + 1, time, m], &[n_x, time + 1, m]] {
            let bad = ArrayD::<f64>::zeros(IxDyn(shape));
            assert!(l.forward(bad.view(), true).is_err(), "{shape:?}");
        }
        l.forward(x.view().into_dyn(), true).unwrap();
        let wrong = Array2::<f64>::ones((u, m + 1)).into_dyn();
        assert!(l
            .backward(x.view().into_dyn(), Upstream::DA(wrong.view()), true)
            .is_err());
        assert!(l
            .backward(x.view().into_dyn(), Upstream::DZ(r.view()), true)
            .is_err());
        let empty = Array3::<f64>::zeros((n_x, time, 0));
        l.forward(empty.view().into_dyn(), true).unwrap();
        let r0 = Array2::<f64>::zeros((u, 0)).into_dyn();
        assert!(l
            .backward(empty.view().into_dyn(), Upstream::DA(r0.view()), true)
            .is_err());
        assert!(l
            .set_param(0, Array2::<f64>::zeros((1, 1)).view().into_dyn())
            .is_err());
        assert!(l
            .set_param(4, Array2::<f64>::zeros((1, 1)).view().into_dyn())
            .is_err());
    }
    assert!(Recurrent::<f64>::new(Cell::Gru, 3, 4, 0, false, 0.0).is_err());
    assert!(Recurrent::<f64>::new(Cell::Gru, 3, 0, 2, false, 0.0).is_err());
    assert!(Recurrent::<f64>::new(Cell::Lstm, 3, 4, 2, false, f64::NAN).is_err());
    assert!(
        Recurrent::<f64>::new(Cell::SimpleRnn(Activation::Softmax), 3, 4, 2, false, 0.0).is_err()
    );
    let f = layer(Cell::Gru, 3, 4, 2, true, 1);
    let g = layer(Cell::Lstm, 3, 4, 2, true, 1).reversed();
    assert!(Bidirectional::new(f.clone(), g).is_err());
    assert!(Bidirectional::new(f.clone(), f).is_err());
    let mut b = bidirectional(Cell::Gru, n_x, time, u, true);
    let r = Array3::<f64>::ones((2 * u, time, m)).into_dyn();
    assert!(b
        .backward(x.view().into_dyn(), Upstream::DA(r.view()), true)
        .is_err());
    b.forward(x.view().into_dyn(), true).unwrap();
    let wrong = Array3::<f64>::ones((u, time, m)).into_dyn();
    assert!(b
        .backward(x.view().into_dyn(), Upstream::DA(wrong.view()), true)
        .is_err());
    assert!(b
        .forward(ArrayD::<f64>::zeros(IxDyn(&[n_x, m])).view(), true)
        .is_err());
    assert!(b
        .set_param(8, Array2::<f64>::zeros((1, 1)).view().into_dyn())
        .is_err());
    b.backward(x.view().into_dyn(), Upstream::DA(r.view()), true)
        .unwrap();
}

#[test]
fn a_network_trains_through_recurrent_layers() {
    // The network's gradients are dJ/dθ of the mean cost: check two of them by differences.
    let json = r#"[{"type": "bidirectional", "layer": {"type": "lstm", "units": 3, "return_sequences": true}},
                   {"type": "gru", "units": 4},
                   {"type": "dense", "units": 1, "activation": "linear"}]"#;
    let specs = LayerSpec::list_from_json(json).unwrap();
    let mut net = crate::Network::<f64>::new(&[2, 5], &specs, crate::Loss::Mse, 3).unwrap();
    let x = input(2, 5, 4, 70).into_dyn();
    let y = uniform_array(&[1, 4], 71).into_dimensionality().unwrap();
    net.gradients(x.view(), y.view()).unwrap();
    for (l, k, idx) in [(0usize, 5usize, 7usize), (1, 1, 3)] {
        let analytic = net.layers()[l].grads()[k].as_slice().unwrap()[idx];
        let p0 = net.layers()[l].params()[k].to_owned();
        let mut costs = [0.0; 2];
        for (j, sign) in [1.0, -1.0].into_iter().enumerate() {
            let mut p = p0.clone();
            p.as_slice_mut().unwrap()[idx] += sign * 1e-6;
            net.layers_mut()[l].set_param(k, p.view()).unwrap();
            costs[j] = net.cost(x.view(), y.view()).unwrap();
        }
        net.layers_mut()[l].set_param(k, p0.view()).unwrap();
        let numeric = (costs[0] - costs[1]) / 2e-6;
        assert!((analytic - numeric).abs() < 1e-7, "{analytic} vs {numeric}");
    }
}
