//! Pooling against naive loops written here from Keras' rules, and backward against central
//! finite differences of J = Σ R ⊙ A (so dA = R).

use approx::assert_abs_diff_eq;
use ndarray::{array, Array4, ArrayD, Axis, IxDyn};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Uniform};

use super::*;
use crate::layers::LayerSpec;

/// Keras' rule for one axis, typed again: (out, padding before).
fn keras_axis(n: usize, k: usize, s: usize, same: bool) -> (usize, usize) {
    if same {
        let out = n.div_ceil(s);
        (out, ((out - 1) * s + k).saturating_sub(n) / 2)
    } else {
        ((n - k) / s + 1, 0)
    }
}

/// Direct loops over every output and every (padded) window position: the output and, for
/// max pooling, the flat index of the first maximum.
fn naive(
    x: &Array4<f64>,
    pool: [usize; 2],
    strides: [usize; 2],
    same: bool,
    max: bool,
) -> (Array4<f64>, Array4<usize>) {
    let (channels, h, w, m) = x.dim();
    let (h_out, pad_h) = keras_axis(h, pool[0], strides[0], same);
    let (w_out, pad_w) = keras_axis(w, pool[1], strides[1], same);
    let mut out = Array4::zeros((channels, h_out, w_out, m));
    let mut argmax = Array4::zeros((channels, h_out, w_out, m));
    for c in 0..channels {
        for oy in 0..h_out {
            for ox in 0..w_out {
                for i in 0..m {
                    let (mut best, mut at, mut sum, mut count) = (f64::NEG_INFINITY, 0, 0.0, 0);
                    for dy in 0..pool[0] {
                        for dx in 0..pool[1] {
                            let r = (oy * strides[0] + dy) as isize - pad_h as isize;
                            let q = (ox * strides[1] + dx) as isize - pad_w as isize;
                            if r < 0 || q < 0 || r >= h as isize || q >= w as isize {
                                continue; // padding
                            }
                            let (r, q) = (r as usize, q as usize);
                            let v = x[[c, r, q, i]];
                            sum += v;
                            count += 1;
                            if v > best {
                                best = v;
                                at = ((c * h + r) * w + q) * m + i;
                            }
                        }
                    }
                    out[[c, oy, ox, i]] = if max { best } else { sum / count as f64 };
                    argmax[[c, oy, ox, i]] = at;
                }
            }
        }
    }
    (out, argmax)
}

/// Random values: from {0, 1, 2, 3} (many ties) or a shuffled 0, 1/n, 2/n, … (all distinct
/// and at least 1/n apart, so a finite difference never crosses a tie).
fn random(shape: &[usize], seed: u64, ties: bool) -> ArrayD<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let mut values: Vec<f64> = if ties {
        let digit = Uniform::new(0u32, 4).unwrap();
        (0..n).map(|_| digit.sample(&mut rng) as f64).collect()
    } else {
        (0..n).map(|k| k as f64 / n as f64 - 0.5).collect()
    };
    for k in (1..n).rev() {
        let j = Uniform::new_inclusive(0, k).unwrap().sample(&mut rng);
        values.swap(k, j);
    }
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

fn spec(json: &str) -> LayerSpec {
    serde_json::from_str(json).unwrap()
}

/// A windowed pooling's spec; 1-D uses the width entries.
fn windowed(max: bool, dims: usize, pool: [usize; 2], strides: [usize; 2], same: bool) -> String {
    let op = if max { "max" } else { "average" };
    let padding = if same { "same" } else { "valid" };
    let (pool, strides) = if dims == 1 {
        (pool[1].to_string(), strides[1].to_string())
    } else {
        (format!("{pool:?}"), format!("{strides:?}"))
    };
    format!(
        r#"{{"type": "{op}_pooling{dims}d", "pool_size": {pool}, "strides": {strides},
             "padding": "{padding}"}}"#
    )
}

/// (C, H, W, m) as the layer's input: (C, W, m) for 1-D (H = 1).
fn layer_input(x: &Array4<f64>, dims: usize) -> ArrayD<f64> {
    if dims == 1 {
        x.index_axis(Axis(1), 0).to_owned().into_dyn()
    } else {
        x.clone().into_dyn()
    }
}

#[test]
fn forward_matches_the_naive_loops() {
    let mut cases = Vec::new();
    for (c, h, w) in [(2, 5, 7), (3, 4, 4), (1, 6, 5)] {
        for pool in [[2, 2], [3, 2], [1, 3], [3, 3]] {
            for strides in [[1, 1], [2, 2], [3, 2], [2, 3], [4, 4]] {
                cases.push((2, [c, h, w], pool, strides));
            }
        }
    }
    for (c, l) in [(2, 7), (3, 8), (1, 5)] {
        for k in 1..=4 {
            for s in [1, 2, 3, 5] {
                cases.push((1, [c, 1, l], [1, k], [1, s]));
            }
        }
    }
    let mut seed = 0;
    for (dims, [c, h, w], pool, strides) in cases {
        for same in [false, true] {
            if !same && (pool[0] > h || pool[1] > w) {
                continue;
            }
            for (max, ties) in [(true, true), (true, false), (false, false)] {
                seed += 1;
                let x = random(&[c, h, w, 3], seed, ties)
                    .into_dimensionality()
                    .unwrap();
                let (expected, expected_argmax) = naive(&x, pool, strides, same, max);
                let json = windowed(max, dims, pool, strides, same);
                let input = layer_input(&x, dims);
                let mut layer = spec(&json)
                    .build::<f64>(&input.shape()[..input.ndim() - 1])
                    .unwrap();
                layer.forward(input.view(), false).unwrap();
                let a = lift(layer.output(input.view())).unwrap();
                assert_abs_diff_eq!(a, expected.view(), epsilon = 1e-12);
                if max {
                    // the kernel itself, for the argmax (first maximum on ties)
                    let g = PoolGeometry::new(c, [h, w], pool, strides, padding(same)).unwrap();
                    let mut a = Array4::zeros(g.output_shape(3));
                    let mut argmax = Array4::zeros(g.output_shape(3));
                    max_pool_forward(&g, x.view(), a.view_mut(), argmax.view_mut()).unwrap();
                    assert_eq!(argmax, expected_argmax, "{json} on {:?}", x.shape());
                }
            }
        }
    }
}

fn padding(same: bool) -> Padding {
    if same {
        Padding::Same
    } else {
        Padding::Valid
    }
}

#[test]
fn hand_worked_same_padding_counts_only_real_positions() {
    // L = 5, pool 2, strides 2, "same": out 3, one padded position at the end
    let x = array![[[1.0], [2.0], [3.0], [4.0], [5.0]]].into_dyn();
    for (op, expected) in [("max", [2.0, 4.0, 5.0]), ("average", [1.5, 3.5, 5.0])] {
        let json = format!(r#"{{"type": "{op}_pooling1d", "padding": "same"}}"#);
        let mut layer = spec(&json).build::<f64>(&[1, 5]).unwrap();
        layer.forward(x.view(), false).unwrap();
        let a = layer.output(x.view());
        assert_eq!(a.shape(), &[1, 3, 1]);
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), expected);
    }
    // L = 4, pool 3, strides 1, "same": one padded position at each end
    let x = array![[[1.0], [2.0], [3.0], [4.0]]].into_dyn();
    let json = r#"{"type": "average_pooling1d", "pool_size": 3, "strides": 1, "padding": "same"}"#;
    let mut layer = spec(json).build::<f64>(&[1, 4]).unwrap();
    layer.forward(x.view(), false).unwrap();
    let a: Vec<f64> = layer.output(x.view()).iter().copied().collect();
    assert_eq!(a, [1.5, 2.0, 3.0, 3.5]);
}

/// dA^[l-1] of `json` on `x` against central differences of J = Σ R ⊙ A.
fn check_gradient(json: &str, x: &ArrayD<f64>, seed: u64) {
    let input_shape = &x.shape()[..x.ndim() - 1];
    let mut layer = spec(json).build::<f64>(input_shape).unwrap();
    let cost = |layer: &mut Box<dyn Layer<f64>>, x: &ArrayD<f64>, r: &ArrayD<f64>| {
        layer.forward(x.view(), true).unwrap();
        (&layer.output(x.view()) * r).sum()
    };
    layer.forward(x.view(), true).unwrap();
    let r = random(layer.output(x.view()).shape(), seed, false) * 3.0 + 0.25;
    layer
        .backward(x.view(), Upstream::DA(r.view()), true)
        .unwrap();
    let da_prev = layer.input_grad(r.view()).to_owned();
    assert_eq!(da_prev.shape(), x.shape());
    let eps = 1e-6;
    let mut xp = x.clone();
    for (k, &analytic) in da_prev.iter().enumerate() {
        let original = x.as_slice().unwrap()[k];
        xp.as_slice_mut().unwrap()[k] = original + eps;
        let plus = cost(&mut layer, &xp, &r);
        xp.as_slice_mut().unwrap()[k] = original - eps;
        let minus = cost(&mut layer, &xp, &r);
        xp.as_slice_mut().unwrap()[k] = original;
        let numeric = (plus - minus) / (2.0 * eps);
        assert!(
            (numeric - analytic).abs() < 1e-7,
            "{json}: element {k}: finite difference {numeric}, backward {analytic}"
        );
    }
}

#[test]
fn backward_matches_finite_differences() {
    let mut seed = 100;
    for max in [true, false] {
        for (pool, strides) in [([2, 2], [2, 2]), ([3, 2], [1, 1]), ([2, 3], [3, 2])] {
            for same in [false, true] {
                seed += 2;
                let json = windowed(max, 2, pool, strides, same);
                check_gradient(&json, &random(&[2, 5, 6, 2], seed, false), seed + 1);
                let json = windowed(max, 1, pool, strides, same);
                check_gradient(&json, &random(&[2, 7, 2], seed, false), seed + 1);
            }
        }
    }
}

#[test]
fn global_pooling_values_and_gradients() {
    let x = random(&[3, 4, 5, 2], 7, false);
    for (json, max) in [
        (r#"{"type": "global_max_pooling2d"}"#, true),
        (r#"{"type": "global_average_pooling2d"}"#, false),
    ] {
        let mut layer = spec(json).build::<f64>(&[3, 4, 5]).unwrap();
        layer.forward(x.view(), false).unwrap();
        let a = layer.output(x.view());
        assert_eq!(a.shape(), &[3, 2]);
        for c in 0..3 {
            for i in 0..2 {
                let values = x.index_axis(Axis(0), c);
                let values = values.index_axis(Axis(2), i);
                let expected = if max {
                    values.fold(f64::NEG_INFINITY, |b, &v| b.max(v))
                } else {
                    values.mean().unwrap()
                };
                assert_abs_diff_eq!(a[[c, i]], expected, epsilon = 1e-14);
            }
        }
        check_gradient(json, &x, 8);
    }
    let x = random(&[3, 6, 2], 9, false);
    for json in [
        r#"{"type": "global_max_pooling1d"}"#,
        r#"{"type": "global_average_pooling1d"}"#,
    ] {
        let mut layer = spec(json).build::<f64>(&[3, 6]).unwrap();
        layer.forward(x.view(), false).unwrap();
        let a = layer.output(x.view());
        let expected = if json.contains("max") {
            x.fold_axis(Axis(1), f64::NEG_INFINITY, |b, &v| b.max(v))
        } else {
            x.mean_axis(Axis(1)).unwrap()
        };
        assert_abs_diff_eq!(a, expected.view(), epsilon = 1e-14);
        check_gradient(json, &x, 10);
    }
}

#[test]
fn overlapping_windows_add_up_and_ties_go_to_the_first() {
    // one row of four equal values, windows of 2 every 1: each output's gradient goes to
    // the first position of its window, so position q gets the gradient of output q
    let x = array![[[1.0], [1.0], [1.0], [1.0]]].into_dyn();
    let json = r#"{"type": "max_pooling1d", "pool_size": 2, "strides": 1}"#;
    let mut layer = spec(json).build::<f64>(&[1, 4]).unwrap();
    layer.forward(x.view(), false).unwrap();
    let da = array![[[10.0], [20.0], [30.0]]].into_dyn();
    layer
        .backward(x.view(), Upstream::DA(da.view()), true)
        .unwrap();
    let got: Vec<f64> = layer.input_grad(da.view()).iter().copied().collect();
    assert_eq!(got, [10.0, 20.0, 30.0, 0.0]);
    // a peak in the middle collects from both windows that hold it
    let x = array![[[0.0], [5.0], [1.0], [0.0]]].into_dyn();
    layer.forward(x.view(), false).unwrap();
    layer
        .backward(x.view(), Upstream::DA(da.view()), true)
        .unwrap();
    let got: Vec<f64> = layer.input_grad(da.view()).iter().copied().collect();
    assert_eq!(got, [0.0, 30.0, 30.0, 0.0]);
}

#[test]
fn strided_inputs_and_the_parallel_path_match_the_naive_loops() {
    // large enough to pool the channels in parallel
    let big = random(&[4, 16, 16, 96], 11, true);
    let x = big.slice(ndarray::s![.., .., .., 5..85;2]).into_dyn(); // strided along m
    let x4: Array4<f64> = x.to_owned().into_dimensionality().unwrap();
    for max in [true, false] {
        let json = windowed(max, 2, [3, 3], [2, 2], true);
        let mut layer = spec(&json).build::<f64>(&[4, 16, 16]).unwrap();
        layer.forward(x.view(), false).unwrap();
        let (expected, _) = naive(&x4, [3, 3], [2, 2], true, max);
        assert_abs_diff_eq!(
            lift(layer.output(x.view())).unwrap(),
            expected.view(),
            epsilon = 1e-12
        );
        // examples first in memory (a transposed X)
        let reversed = x4.view().reversed_axes();
        let xt =
            ArrayD::from_shape_vec(reversed.shape(), reversed.iter().copied().collect()).unwrap();
        let xt = xt.t();
        assert!(!xt.is_standard_layout());
        layer.forward(xt.view(), false).unwrap();
        assert_abs_diff_eq!(
            lift(layer.output(xt.view())).unwrap(),
            expected.view(),
            epsilon = 1e-12
        );
        // backward in parallel: the average spreads, the max routes, both sum to Σ dA
        let da = ArrayD::<f64>::ones(layer.output(xt.view()).shape());
        layer
            .backward(xt.view(), Upstream::DA(da.view()), true)
            .unwrap();
        assert_abs_diff_eq!(layer.input_grad(da.view()).sum(), da.sum(), epsilon = 1e-9);
    }
}

#[test]
fn workspaces_are_reused_for_smaller_batches() {
    let json = r#"{"type": "max_pooling2d", "pool_size": 2, "strides": 1}"#;
    let mut layer = spec(json).build::<f64>(&[2, 4, 3]).unwrap();
    let mut pointers = Vec::new();
    for (m, seed) in [(5, 1), (2, 2), (7, 3)] {
        let x = random(&[2, 4, 3, m], seed, false);
        layer.forward(x.view(), true).unwrap();
        let (expected, _) = naive(
            &x.clone().into_dimensionality().unwrap(),
            [2, 2],
            [1, 1],
            false,
            true,
        );
        let a = layer.output(x.view());
        assert_abs_diff_eq!(lift(a.clone()).unwrap(), expected.view(), epsilon = 0.0);
        let (da, a_ptr) = (a.to_owned(), a.as_ptr());
        layer
            .backward(x.view(), Upstream::DA(da.view()), true)
            .unwrap();
        pointers.push((a_ptr, layer.input_grad(da.view()).as_ptr()));
    }
    assert_eq!(
        pointers[0], pointers[1],
        "m = 2 reuses the buffers of m = 5"
    );
}

#[test]
fn specs_parse_with_keras_defaults_and_round_trip() {
    let specs = LayerSpec::list_from_json(
        r#"[{"type": "max_pooling2d"},
            {"type": "average_pooling2d", "pool_size": [2, 3], "strides": null,
             "padding": "same"},
            {"type": "max_pooling1d", "pool_size": 3, "strides": 1},
            {"type": "average_pooling1d"},
            {"type": "global_max_pooling1d"}, {"type": "global_average_pooling2d"}]"#,
    )
    .unwrap();
    assert_eq!(
        specs[0],
        LayerSpec::MaxPooling2D(MaxPooling2DConfig::default())
    );
    assert_eq!(
        specs[1],
        LayerSpec::AveragePooling2D(AveragePooling2DConfig {
            pool_size: Size2::Pair([2, 3]),
            strides: None,
            padding: Padding::Same,
        })
    );
    assert_eq!(
        specs[2].plan(&[4, 10]).unwrap(),
        LayerPlan::without_params(vec![4, 8])
    );
    assert_eq!(
        specs[1].plan(&[4, 5, 7]).unwrap(),
        LayerPlan::without_params(vec![4, 3, 3])
    );
    assert_eq!(
        specs[4].plan(&[4, 5]).unwrap(),
        LayerPlan::without_params(vec![4])
    );
    let json = serde_json::to_string(&specs).unwrap();
    assert!(json.contains(r#"{"type":"max_pooling2d","pool_size":2,"padding":"valid"}"#));
    assert!(json.contains(r#""pool_size":[2,3]"#));
    assert_eq!(LayerSpec::list_from_json(&json).unwrap(), specs);
}

#[test]
fn bad_configs_and_inputs_are_errors_not_panics() {
    for (json, input) in [
        (
            r#"{"type": "max_pooling2d", "pool_size": 0}"#,
            &[1, 4, 4][..],
        ),
        (r#"{"type": "max_pooling2d", "pool_size": [2]}"#, &[1, 4, 4]),
        (
            r#"{"type": "max_pooling2d", "pool_size": [2, 2, 2]}"#,
            &[1, 4, 4],
        ),
        (
            r#"{"type": "max_pooling2d", "pool_size": [2, -2]}"#,
            &[1, 4, 4],
        ),
        (r#"{"type": "max_pooling2d", "pool_size": -1}"#, &[1, 4, 4]),
        (r#"{"type": "max_pooling2d", "pool_size": 1.5}"#, &[1, 4, 4]),
        (r#"{"type": "max_pooling2d", "pool_size": "2"}"#, &[1, 4, 4]),
        (
            r#"{"type": "max_pooling2d", "pool_size": 1099511627776}"#,
            &[1, 4, 4],
        ),
        (
            r#"{"type": "max_pooling2d", "strides": [0, 1]}"#,
            &[1, 4, 4],
        ),
        (
            r#"{"type": "max_pooling2d", "padding": "full"}"#,
            &[1, 4, 4],
        ),
        (r#"{"type": "max_pooling2d", "pool": 2}"#, &[1, 4, 4]),
        (r#"{"type": "max_pooling2d", "pool_size": 5}"#, &[1, 4, 4]),
        (
            r#"{"type": "max_pooling2d", "pool_size": [1, 5]}"#,
            &[1, 4, 4],
        ),
        (r#"{"type": "max_pooling2d"}"#, &[64]),
        (r#"{"type": "max_pooling2d"}"#, &[1, 0, 4]),
        (r#"{"type": "average_pooling1d", "strides": 0}"#, &[1, 4]),
        (
            r#"{"type": "average_pooling1d", "pool_size": [2, 2]}"#,
            &[1, 4],
        ),
        (r#"{"type": "average_pooling1d", "pool_size": 5}"#, &[1, 4]),
        (r#"{"type": "average_pooling1d"}"#, &[1, 4, 4]),
        (r#"{"type": "average_pooling1d"}"#, &[0, 4]),
        (
            r#"{"type": "global_max_pooling2d", "pool_size": 2}"#,
            &[1, 4, 4],
        ),
        (r#"{"type": "global_max_pooling2d"}"#, &[4, 4]),
        (r#"{"type": "global_average_pooling1d"}"#, &[]),
        (r#"{"type": "global_average_pooling1d"}"#, &[16777217, 2]),
    ] {
        let built = LayerSpec::list_from_json(&format!("[{json}]")).and_then(|specs| {
            specs[0].plan(input)?;
            specs[0].build::<f32>(input).map(|_| ())
        });
        assert!(built.is_err(), "{json} on {input:?}");
    }
    let err = spec(r#"{"type": "max_pooling2d"}"#)
        .plan(&[64])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "max_pooling2d takes (channels, height, width) per example, got input shape [64]"
    );
    let err = spec(r#"{"type": "max_pooling1d", "pool_size": 5}"#)
        .plan(&[3, 4])
        .unwrap_err();
    assert!(err.to_string().starts_with("pool_size: "), "{err}");
    assert!(err.to_string().contains("length 4"), "{err}");
    // "same" pads up to a window: a pool larger than the input is fine there
    let same = spec(r#"{"type": "max_pooling2d", "pool_size": 5, "padding": "same"}"#);
    assert_eq!(same.plan(&[1, 4, 4]).unwrap().output_shape, [1, 1, 1]);
}

#[test]
fn kernels_reject_bad_arguments() {
    let g = PoolGeometry::new(2, [4, 4], [2, 2], [2, 2], Padding::Valid).unwrap();
    let x = Array4::<f64>::zeros((2, 4, 4, 3));
    let mut a = Array4::<f64>::zeros((2, 2, 2, 3));
    let mut argmax = Array4::<usize>::zeros((2, 2, 2, 3));
    let mut wrong = Array4::<f64>::zeros((2, 2, 3, 3));
    assert!(max_pool_forward(&g, x.view(), wrong.view_mut(), argmax.view_mut()).is_err());
    assert!(average_pool_forward(&g, x.slice(ndarray::s![.., .., ..3, ..]), a.view_mut()).is_err());
    max_pool_forward(&g, x.view(), a.view_mut(), argmax.view_mut()).unwrap();
    let mut da_prev = Array4::<f64>::zeros((2, 4, 4, 3));
    max_pool_backward(&g, a.view(), argmax.view(), da_prev.view_mut()).unwrap();
    // an index into the other channel, or past the end
    for stray in [0, 2 * 4 * 4 * 3] {
        let mut bad = argmax.clone();
        bad[[1, 0, 0, 0]] = stray;
        let err = max_pool_backward(&g, a.view(), bad.view(), da_prev.view_mut()).unwrap_err();
        assert!(err.to_string().starts_with("argmax:"), "{err}");
    }
    let mut fortran = Array4::<f64>::zeros((3, 4, 4, 2));
    let transposed = fortran.view_mut().reversed_axes();
    assert!(max_pool_backward(&g, a.view(), argmax.view(), transposed).is_err());
    assert!(average_pool_backward(&g, wrong.view(), da_prev.view_mut()).is_err());
    // a layer's backward before any forward, or on another batch
    let mut layer = spec(r#"{"type": "max_pooling2d"}"#)
        .build::<f64>(&[2, 4, 4])
        .unwrap();
    let xd = x.clone().into_dyn();
    let ad = a.clone().into_dyn();
    assert!(layer
        .backward(xd.view(), Upstream::DA(ad.view()), true)
        .is_err());
    layer.forward(xd.view(), false).unwrap();
    let other = Array4::<f64>::zeros((2, 2, 2, 4)).into_dyn();
    assert!(layer
        .backward(xd.view(), Upstream::DA(other.view()), true)
        .is_err());
    assert!(layer.forward(other.view(), false).is_err());
}
