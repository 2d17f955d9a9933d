//! The host path on burn's ndarray backend: shapes, the loss and embedding against closed
//! forms computed here in f64, errors instead of panics, seeds.

use burn::tensor::{Device, Tensor, TensorData};
use gdf::framework::DiffuseArgs;
use gdf::GdfError;
use gdf_burn::{diffuse, to_vec, weighted_loss, Embedding, HostModel, SolverSpec, Steps};

gdf::gdf!(Fw = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: V,
          noise_cond: CosineT, loss_weight: P2);

#[allow(deprecated)]
fn dev() -> Device {
    Device::ndarray()
}

/// A deterministic spread of values in [−1, 1].
fn values(n: usize, k: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| ((i * 7919 + k * 104_729) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

#[test]
fn diffuse_gives_gdfs_numbers_in_broadcastable_shapes() {
    let g = Fw::default();
    let (b, c, w) = (5, 3, 4);
    let x0h = values(b * c * w, 1);
    let x0 = Tensor::<3>::from_data(TensorData::new(x0h.clone(), [b, c, w]), &dev());
    let args = DiffuseArgs {
        seed: 9,
        ..Default::default()
    };
    let d = diffuse(&g, x0, &args).unwrap();
    let h = g.diffuse(&x0h, b, &args).unwrap();
    assert_eq!(d.noised.dims(), [b, c, w]);
    assert_eq!(d.target.dims(), [b, c, w]);
    assert_eq!(d.noise_cond.dims(), [b, 1, 1]);
    assert_eq!(d.loss_weight.dims(), [b, 1, 1]);
    assert_eq!(to_vec(d.noised, "noised").unwrap(), h.noised);
    assert_eq!(to_vec(d.target, "target").unwrap(), h.target);
    assert_eq!(to_vec(d.noise_cond, "c").unwrap(), h.noise_cond);
    assert_eq!(to_vec(d.loss_weight, "w").unwrap(), h.loss_weight);
    assert_eq!(d.logsnr, h.logsnr);
    // An empty dimension is a typed error naming the tensor.
    let e = diffuse(&g, Tensor::<2>::zeros([0, 2], &dev()), &args).unwrap_err();
    assert!(e.to_string().contains("`x0` has shape [0, 2]"), "{e}");
}

#[test]
fn weighted_loss_matches_its_closed_form() {
    let (b, c, w) = (6, 2, 5);
    let (p, t, wt) = (values(b * c * w, 2), values(b * c * w, 3), values(b, 4));
    let wt: Vec<f32> = wt.iter().map(|v| v.abs() + 0.1).collect();
    let per = c * w;
    let mse: Vec<f64> = (0..b)
        .map(|i| {
            (0..per)
                .map(|j| (f64::from(p[i * per + j]) - f64::from(t[i * per + j])).powi(2))
                .sum::<f64>()
                / per as f64
        })
        .collect();
    let want = mse
        .iter()
        .zip(&wt)
        .map(|(m, &w)| m * f64::from(w))
        .sum::<f64>()
        / b as f64;
    let l = weighted_loss(
        Tensor::<3>::from_data(TensorData::new(p, [b, c, w]), &dev()),
        Tensor::<3>::from_data(TensorData::new(t, [b, c, w]), &dev()),
        gdf_burn::per_sample::<3>(wt, &dev()),
    );
    let got = to_vec(l.weighted, "loss").unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        (f64::from(got[0]) - want).abs() <= 1e-6 * want.max(1.0),
        "{got:?} vs {want}"
    );
    let per_sample = to_vec(l.per_sample, "mse").unwrap();
    for (g, w) in per_sample.iter().zip(&mse) {
        assert!((f64::from(*g) - w).abs() <= 1e-6 * w.max(1.0));
    }
}

#[test]
fn embedding_matches_its_closed_form() {
    let e = Embedding::sinusoidal(3, 100.0);
    let c = [0.0f32, 0.3, -2.5, 7.0];
    let out = to_vec(
        e.forward(Tensor::<2>::from_data(
            TensorData::new(c.to_vec(), [4, 1]),
            &dev(),
        )),
        "emb",
    )
    .unwrap();
    assert_eq!(out.len(), 4 * 7);
    for (i, &ci) in c.iter().enumerate() {
        let row = &out[i * 7..(i + 1) * 7];
        assert_eq!(row[0], ci);
        for k in 0..3 {
            let f = 100f64.powf(-(k as f64) / 3.0);
            let (s, co) = ((f * f64::from(ci)).sin(), (f * f64::from(ci)).cos());
            assert!((f64::from(row[1 + k]) - s).abs() < 1e-5, "sin k={k} c={ci}");
            assert!(
                (f64::from(row[4 + k]) - co).abs() < 1e-5,
                "cos k={k} c={ci}"
            );
        }
    }
}

#[test]
fn a_failing_burn_model_stops_sampling_with_an_error() {
    let g = Fw::default();
    let spec = SolverSpec {
        solver: "dpmpp_2m".into(),
        steps: 5,
        seed: 1,
    };
    // The model drops a column: burn does not panic, gdf reports the evaluation that failed.
    let bad =
        HostModel::<_, 2>::new(|x: Tensor<2>, _c| x.slice([0..3, 0..1]), dev(), &[2]).unwrap();
    match spec.sampling(&g, 3, 2).unwrap().run(bad) {
        Err(GdfError::Model { step, message }) => {
            assert_eq!(step, 0);
            assert!(
                message.contains("`model output` has shape [3, 1]"),
                "{message}"
            );
        }
        other => panic!("expected a model error, got {other:?}"),
    }
    // A sample shape that does not fit the model's rank is refused up front.
    assert!(HostModel::<_, 3>::new(|x: Tensor<3>, _c| x, dev(), &[2]).is_err());
    // An unknown solver name is gdf's error.
    let e = SolverSpec {
        solver: "nope".into(),
        steps: 5,
        seed: 1,
    }
    .solver()
    .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn steps_derive_distinct_reproducible_seeds() {
    let mut a = Steps::new(11);
    let seeds: Vec<_> = (0..10_000).map(|_| a.next()).collect();
    let mut all: Vec<u64> = seeds
        .iter()
        .flat_map(|s| [s.diffuse_seed, s.data_seed])
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 20_000, "seed collision");
    // A counter restored mid-run continues the same sequence; another run seed differs.
    let mut b = Steps {
        seed: 11,
        step: 5_000,
    };
    assert_eq!(b.next(), seeds[5_000]);
    assert_ne!(Steps::new(12).next(), seeds[0]);
}

#[test]
fn transition_log_prob_matches_the_host_and_its_gradient_is_the_closed_form() {
    use gdf::scaler::Vp;
    use gdf::solver::{gaussian_steps, EulerAncestral, Grid};
    use gdf::target::{Epsilon, Target};
    use gdf_burn::transition_log_prob;
    // DDIM(η = 1) on a VP grid, ε-prediction (DDPO's setting), 3 samples of 2×2.
    let grid = Grid::new(&Vp, &[-2.0, 0.5, 2.5]).unwrap();
    let step = gaussian_steps(&EulerAncestral::new(), &grid).unwrap()[0];
    let (b, per) = (3usize, 4usize);
    let (x, xn, e) = (values(b * per, 3), values(b * per, 4), values(b * per, 5));
    let t = |v: &[f32]| {
        Tensor::<3>::from_data(TensorData::new(v.to_vec(), [b, 2, 2]), &dev().autodiff())
    };
    let pred = t(&e).require_grad();
    let lp = transition_log_prob(&step, &Epsilon, t(&xn), t(&x), pred.clone()).unwrap();
    assert_eq!(lp.dims(), [b]);
    // The host's log-probability, through x0.
    let (a, bb) = (step.level.a, step.level.b);
    let d: Vec<f64> = x
        .iter()
        .zip(&e)
        .map(|(&x, &e)| Epsilon.x0(x as f64, e as f64, a, bb))
        .collect();
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let xn64: Vec<f64> = xn.iter().map(|&v| v as f64).collect();
    let host = step.log_prob(&xn64, &x64, &d, b).unwrap();
    let got = to_vec(lp.clone(), "lp").unwrap();
    for (g, h) in got.iter().zip(&host) {
        assert!(
            (*g as f64 - h).abs() < 1e-4 * h.abs().max(1.0),
            "{g} vs {h}"
        );
    }
    // d(Σ_s lp_s)/d pred = c_p·(x' − mean)/(std²·per), element by element.
    let [c_x, c_p] = step.for_prediction(&Epsilon).unwrap();
    let grads = lp.sum().backward();
    let g = to_vec(pred.grad(&grads).expect("a gradient for pred"), "grad").unwrap();
    for i in 0..b * per {
        let mean = c_x * x[i] as f64 + c_p * e[i] as f64;
        let want = c_p * (xn[i] as f64 - mean) / (step.std * step.std * per as f64);
        assert!(
            (g[i] as f64 - want).abs() < 1e-4 * want.abs().max(1.0),
            "{i}: {} vs {want}",
            g[i]
        );
    }
    // A deterministic step and mismatched shapes are errors.
    let last = gaussian_steps(
        &EulerAncestral::new(),
        &Grid::new(&Vp, &[0.0, f64::INFINITY]).unwrap(),
    )
    .unwrap()[0];
    let e1 = transition_log_prob(&last, &Epsilon, t(&xn), t(&x), t(&e)).unwrap_err();
    assert!(e1.to_string().contains("deterministic"), "{e1}");
    let small = Tensor::<3>::zeros([b, 1, 2], &dev());
    assert!(transition_log_prob(&step, &Epsilon, small, t(&x), t(&e)).is_err());
}

#[test]
fn pseudo_huber_matches_the_host_and_its_gradient_is_the_closed_form() {
    use gdf_burn::pseudo_huber;
    let (b, per) = (3usize, 4usize);
    let (x, y) = (values(b * per, 6), values(b * per, 7));
    let t = |v: &[f32]| {
        Tensor::<3>::from_data(TensorData::new(v.to_vec(), [b, 2, 2]), &dev().autodiff())
    };
    let xt = t(&x).require_grad();
    let d = pseudo_huber(xt.clone(), t(&y)).unwrap();
    assert_eq!(d.dims(), [b]);
    let host = gdf::consistency::pseudo_huber(&x, &y, b).unwrap();
    let got = to_vec(d.clone(), "d").unwrap();
    for (g, h) in got.iter().zip(&host) {
        assert!(
            (*g as f64 - h).abs() < 1e-5 * h.abs().max(1.0),
            "{g} vs {h}"
        );
    }
    // ∂d_s/∂x = (x − y)/√(‖x − y‖² + c²).
    let c = 0.00054 * (per as f64).sqrt();
    let grads = d.sum().backward();
    let g = to_vec(xt.grad(&grads).expect("a gradient for x"), "grad").unwrap();
    for s in 0..b {
        let norm2: f64 = (0..per)
            .map(|k| (x[s * per + k] as f64 - y[s * per + k] as f64).powi(2))
            .sum();
        for k in 0..per {
            let i = s * per + k;
            let want = (x[i] as f64 - y[i] as f64) / (norm2 + c * c).sqrt();
            assert!((g[i] as f64 - want).abs() < 1e-4, "{i}: {} vs {want}", g[i]);
        }
    }
    let short =
        Tensor::<3>::from_data(TensorData::new(vec![0f32; 8], [2, 2, 2]), &dev().autodiff());
    assert!(pseudo_huber(t(&x), short).is_err());
}

/// The consistency batch on burn tensors is the host's (`ImprovedCt::batch`): the same inputs
/// and noise conds, the loss the host's `CtBatch::loss` averaged, and its gradient reaches the
/// student's output only, as `w_s·c_p·σ_d²·(x̂0_s − x̂0_t)/(B·√(‖Δ‖² + c²))`.
#[test]
fn consistency_batch_is_the_hosts_and_stops_the_teacher() {
    use gdf::consistency::{CtStep, ImprovedCt};
    let g: gdf::dynamic::DynGdf = "schedule: EdmSample(sigma_range = [0.004, 160.0]), scaler: Vp, \
         target: Consistency(sigma_min = 0.004), noise_cond: Edm, loss_weight: Constant"
        .parse()
        .unwrap();
    let ict = ImprovedCt::new();
    let (b, per) = (6usize, 2usize);
    let x0 = values(b * per, 3);
    let at = CtStep {
        step: 5_000,
        total: 10_000,
        seed: 21,
        first_sample: 0,
    };
    let dev = dev().autodiff();
    let x0t = Tensor::<2>::from_data(TensorData::new(x0.clone(), [b, per]), &dev);
    let cb = gdf_burn::consistency_batch(&g, &ict, x0t, at).unwrap();
    let host = ict.batch(&g, &x0, b, at).unwrap();
    assert_eq!(cb.host, host);
    assert_eq!(
        to_vec(cb.student.clone(), "s").unwrap(),
        host.inputs.student
    );
    assert_eq!(
        to_vec(cb.teacher_cond.clone(), "c").unwrap(),
        host.teacher_cond
    );
    assert_eq!(cb.student_cond.dims(), [b, 1]);
    let (so, to) = (values(b * per, 8), values(b * per, 9));
    let t = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [b, per]), &dev);
    let (st, tt) = (t(&so).require_grad(), t(&to).require_grad());
    let loss = cb.loss(st.clone(), tt.clone()).unwrap();
    let want: f64 = host.loss(&so, &to).unwrap().iter().sum::<f64>() / b as f64;
    let got = f64::from(to_vec(loss.clone(), "loss").unwrap()[0]);
    assert!((got - want).abs() <= 1e-5 * want, "{got} vs {want}");
    let grads = loss.backward();
    assert!(
        tt.grad(&grads).is_none(),
        "the teacher's output is detached"
    );
    let gs = to_vec(st.grad(&grads).expect("a gradient for the student"), "g").unwrap();
    let sd = ict.sigma_data;
    let c = 0.00054 * (per as f64).sqrt();
    for s in 0..b {
        let x0_of = |x: &[f32], o: &[f32], cf: [f64; 2], k: usize| {
            sd * (cf[0] * f64::from(x[s * per + k]) + cf[1] * f64::from(o[s * per + k]))
        };
        let d: Vec<f64> = (0..per)
            .map(|k| {
                x0_of(&host.inputs.student, &so, host.student_x0[s], k)
                    - x0_of(&host.inputs.teacher, &to, host.teacher_x0[s], k)
            })
            .collect();
        let norm = (d.iter().map(|v| v * v).sum::<f64>() + c * c).sqrt();
        for k in 0..per {
            let w = host.inputs.weight[s];
            let want = w * host.student_x0[s][1] * sd * d[k] / (b as f64 * norm);
            let got = f64::from(gs[s * per + k]);
            assert!(
                (got - want).abs() <= 1e-4 * want.abs().max(1e-3),
                "{s} {k}: {got} vs {want}"
            );
        }
    }
    assert!(cb.loss(t(&so).reshape([per, b]), t(&to)).is_err());
    let v: gdf::dynamic::DynGdf = "schedule: Cosine, scaler: Vp, target: V, noise_cond: Edm, \
         loss_weight: Constant"
        .parse()
        .unwrap();
    let x0t = Tensor::<2>::from_data(TensorData::new(x0, [b, per]), &dev);
    assert!(matches!(
        gdf_burn::consistency_batch(&v, &ict, x0t, at),
        Err(gdf_burn::Error::Gdf(GdfError::Invalid { .. }))
    ));
}

/// The distillation batch on burn tensors is the host's (`Distillation::batch`), the teacher
/// called on the same values.
#[test]
fn distillation_batch_is_the_hosts() {
    use gdf::consistency::Distillation;
    let g: gdf::dynamic::DynGdf = "schedule: EdmSample(sigma_range = [0.004, 160.0]), scaler: Vp, \
         target: Consistency(sigma_min = 0.004), noise_cond: Edm, loss_weight: Constant"
        .parse()
        .unwrap();
    let cd = Distillation::new();
    let (b, per) = (5usize, 3usize);
    let x0 = values(b * per, 4);
    let teacher = |x: &[f32], s: &[f64], d: &mut [f32]| -> gdf::Result<()> {
        for (j, (dv, &xv)) in d.iter_mut().zip(x).enumerate() {
            *dv = xv / (1.0 + s[j / per] as f32);
        }
        Ok(())
    };
    let t = Tensor::<2>::from_data(TensorData::new(x0.clone(), [b, per]), &dev());
    let cb = gdf_burn::distillation_batch(&g, &cd, t, 3, 2, teacher).unwrap();
    let host = cd.batch(&g, &x0, b, 3, 2, teacher).unwrap();
    assert_eq!(cb.host, host);
    assert_eq!(to_vec(cb.teacher, "t").unwrap(), host.inputs.teacher);
    assert_eq!(to_vec(cb.student_cond, "c").unwrap(), host.student_cond);
}

/// `ema_update`: decay 0 is the model itself, bit for bit (every parameter, bias included);
/// a decay outside [0, 1) is refused by name; a module of another shape is refused.
#[test]
fn ema_update_moves_every_parameter() {
    use burn::nn::{Linear, LinearConfig};
    #[allow(deprecated)]
    let dev = Device::ndarray();
    let old: Linear = LinearConfig::new(3, 2).init(&dev);
    let model: Linear = LinearConfig::new(3, 2).init(&dev);
    let bias = |l: &Linear| gdf_burn::to_vec(l.bias.as_ref().unwrap().val(), "bias").unwrap();
    let bits = |l: &Linear| -> Vec<u32> {
        let mut v = gdf_burn::to_vec(l.weight.val(), "weight").unwrap();
        v.extend(bias(l));
        v.iter().map(|x| x.to_bits()).collect()
    };
    assert_ne!(bits(&old), bits(&model));
    let same = gdf_burn::ema_update(old.clone(), &model, 0.0).unwrap();
    assert_eq!(bits(&same), bits(&model));
    let half = gdf_burn::ema_update(old.clone(), &model, 0.5).unwrap();
    for ((h, o), m) in bias(&half).iter().zip(bias(&old)).zip(bias(&model)) {
        assert!((h - 0.5 * (o + m)).abs() < 1e-7, "{h} vs {o}, {m}");
    }
    for bad in [1.0, -0.5, f64::NAN] {
        let e = gdf_burn::ema_update(old.clone(), &model, bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("decay"), "{e}");
    }
    let wide: Linear = LinearConfig::new(4, 2).init(&dev);
    let e = gdf_burn::ema_update(wide, &model, 0.9)
        .unwrap_err()
        .to_string();
    assert!(e.contains("average"), "{e}");
}
