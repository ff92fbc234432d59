//! Every supported model family against Hugging Face transformers: tiny random models made by
//! `scripts/fixtures/tiny_models.py` (installed transformers), loaded by w2s, pooled features compared
//! on a padded batch; left padding for decoders; gradients reach every parameter.

use crate::common;

use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor};
use w2s::loss::{loss_value, Loss};
use w2s::model::lora::{is_adapter, LoraConfig, Save};
use w2s::model::{Batch, Classifier, Pooling};

const FAMILIES: &[&str] = &[
    "bert",
    "bert_prefixed",
    "roberta",
    "mpnet",
    "gpt2",
    "llama",
    "llama3_rope",
    "qwen2",
    "gpt_neox",
    "gpt_neox_sequential",
];

struct Reference {
    ids: Vec<Vec<i64>>,
    mask: Vec<Vec<i64>>,
    features: Vec<Vec<f64>>,
    /// Decoders: the causal LM's logits for `answers` at the last real token.
    answers: Vec<i64>,
    lm_logits: Option<Vec<Vec<f64>>>,
    /// Decoders: the causal LM's loss on the batch, counting each row from `lm_starts` on.
    lm_loss: Option<f64>,
    lm_starts: Vec<usize>,
}

fn reference(dir: &std::path::Path) -> Reference {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    Reference {
        ids: serde_json::from_value(v["ids"].clone()).unwrap(),
        mask: serde_json::from_value(v["mask"].clone()).unwrap(),
        features: serde_json::from_value(v["features"].clone()).unwrap(),
        answers: serde_json::from_value(v["answers"].clone()).unwrap(),
        lm_logits: serde_json::from_value(v["lm_logits"].clone()).unwrap(),
        lm_loss: serde_json::from_value(v["lm_loss"].clone()).unwrap(),
        lm_starts: serde_json::from_value(v["lm_starts"].clone()).unwrap(),
    }
}

fn batch(ids: &[Vec<i64>], mask: &[Vec<i64>]) -> Batch {
    Batch {
        ids: Tensor::from_slice2(ids),
        mask: Tensor::from_slice2(mask),
        pairs: false,
    }
}

/// Move each row's real tokens to the right end.
fn left_pad(r: &Reference, pad: i64) -> Batch {
    let t = r.ids[0].len();
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for (row, m) in r.ids.iter().zip(&r.mask) {
        let n = m.iter().sum::<i64>() as usize;
        let mut i = vec![pad; t - n];
        i.extend_from_slice(&row[..n]);
        let mut mm = vec![0; t - n];
        mm.extend(std::iter::repeat_n(1, n));
        ids.push(i);
        mask.push(mm);
    }
    batch(&ids, &mask)
}

fn relative_error(ours: &Tensor, expected: &Tensor) -> f64 {
    (ours - expected).norm().double_value(&[]) / expected.norm().double_value(&[])
}

#[test]
fn every_family_matches_transformers_and_trains() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_models(dir.path());
    let mut failures = Vec::new();
    for family in FAMILIES {
        let d = dir.path().join(family);
        let r = reference(&d);
        let mut model = Classifier::load(d.to_str().unwrap(), Device::Cpu, 0)
            .unwrap_or_else(|e| panic!("{family}: {e:#}"));
        let expected = Tensor::from_slice2(&r.features);
        let right = batch(&r.ids, &r.mask);
        let ours = tch::no_grad(|| model.features(&right)).to_kind(Kind::Double);
        let err = relative_error(&ours, &expected);
        if err >= 1e-4 {
            failures.push(format!("{family}: relative error {err:.2e}"));
        }
        // The first row is the longest: alone, it has no padding (libtorch's unmasked paths).
        let alone = batch(&r.ids[..1], &r.mask[..1]);
        let ours = tch::no_grad(|| model.features(&alone)).to_kind(Kind::Double);
        let err = relative_error(&ours, &expected.narrow(0, 0, 1));
        if err >= 1e-4 {
            failures.push(format!("{family} (no padding): relative error {err:.2e}"));
        }
        if model.pooling == Pooling::Last {
            let left = left_pad(&r, model.encoder.pad_id());
            let ours = tch::no_grad(|| model.features(&left)).to_kind(Kind::Double);
            let err = relative_error(&ours, &expected);
            if err >= 1e-4 {
                failures.push(format!("{family} (left padding): relative error {err:.2e}"));
            }
        }

        // Gradient flow: one step to move the zero head, then every parameter has a finite,
        // non-zero gradient.
        let labels = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0]).view([3, 2]);
        let mut opt = tch::nn::Adam::default().build(&model.vs, 1e-2).unwrap();
        for pass in 0..2 {
            opt.zero_grad();
            loss_value(&Loss::Xent, &model.forward(&right), &labels, 0.0)
                .unwrap()
                .backward();
            if pass == 0 {
                opt.step();
            }
        }
        for (name, v) in model.vs.variables() {
            let g = v.grad();
            let ok = g.defined()
                && bool::try_from(g.isfinite().all()).unwrap()
                && g.abs().sum(Kind::Double).double_value(&[]) > 0.0;
            if !ok {
                failures.push(format!(
                    "{family}: `{name}` has no finite non-zero gradient"
                ));
            }
        }
        if let Err(e) = checkpointing_gives_the_same_gradients(&model, &right, &labels) {
            failures.push(format!("{family} with checkpointing: {e}"));
        }
        if *family == "bert" || *family == "llama" {
            if let Err(e) = minibatches_give_the_batch_gradient(&model, &r) {
                failures.push(format!("{family}: {e}"));
            }
        }
        model.set_backbone_trainable(true);
        // Generative scoring: the head from the LM head's answer rows gives the LM's logits.
        if let Some(lm) = &r.lm_logits {
            let mut g = Classifier::load(d.to_str().unwrap(), Device::Cpu, 0).unwrap();
            g.init_head_from_lm([r.answers[0], r.answers[1]])
                .unwrap_or_else(|e| panic!("{family}: {e:#}"));
            let ours = tch::no_grad(|| g.forward(&right)).to_kind(Kind::Double);
            let err = relative_error(&ours, &Tensor::from_slice2(lm));
            if err >= 1e-4 {
                failures.push(format!(
                    "{family} LM-head scoring: relative error {err:.2e}"
                ));
            }
        } else if Classifier::load(d.to_str().unwrap(), Device::Cpu, 0)
            .unwrap()
            .init_head_from_lm([5, 7])
            .is_ok()
        {
            failures.push(format!("{family}: an encoder accepted generative scoring"));
        }
        if let Some(want) = r.lm_loss {
            if let Err(e) = lm_loss_matches(&d, &right, &r.lm_starts, want) {
                failures.push(format!("{family} language-modelling loss: {e}"));
            }
        } else if Classifier::load(d.to_str().unwrap(), Device::Cpu, 0)
            .unwrap()
            .lm_head("generative finetuning")
            .is_ok()
        {
            failures.push(format!("{family}: an encoder has a language-model head"));
        }
        if let Err(e) = lora_trains_only_adapters(&d, &right, &expected) {
            failures.push(format!("{family} with LoRA: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

type Gradients = Vec<(String, Tensor)>;

/// Every gradient of the model (zero where none), then zeroed for the next pass.
fn take_gradients(model: &Classifier) -> Gradients {
    let mut out: Gradients = model
        .vs
        .variables()
        .into_iter()
        .map(|(name, v)| {
            let mut g = v.grad();
            let copy = if g.defined() {
                g.copy()
            } else {
                v.zeros_like()
            };
            if g.defined() {
                let _ = g.zero_();
            }
            (name, copy.to_kind(Kind::Double))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether two sets of gradients agree: the whole gradient (all parameters as one vector) to
/// `tolerance` relative, and each parameter to 10 x `tolerance`, measured against at least a
/// ten-thousandth of the largest: gradients that are zero in exact arithmetic (attention keys'
/// biases, as softmax ignores a shift) hold only rounding noise.
fn compare(a: &Gradients, b: &Gradients, tolerance: f64) -> Result<(), String> {
    let norms: Vec<f64> = a.iter().map(|(_, x)| x.norm().double_value(&[])).collect();
    let largest = norms.iter().copied().fold(0.0, f64::max);
    if largest == 0.0 {
        return Err("no gradient at all".into());
    }
    let (mut diff2, mut total2) = (0.0, 0.0);
    let mut worst = (0.0, String::new());
    for (((name, x), (_, y)), norm) in a.iter().zip(b).zip(&norms) {
        let d = (x - y).norm().double_value(&[]);
        diff2 += d * d;
        total2 += norm * norm;
        let err = d / norm.max(1e-4 * largest);
        if err > worst.0 {
            worst = (err, name.clone());
        }
    }
    let whole = (diff2 / total2).sqrt();
    if whole > tolerance || worst.0 > 10.0 * tolerance {
        return Err(format!(
            "the gradient differs by {whole:.2e} (relative); most, `{}`, by {:.2e}",
            worst.1, worst.0
        ));
    }
    Ok(())
}

/// The LM loss of generative finetuning is transformers' causal-LM loss (its LM head, tied or
/// not, found in the checkpoint), and checkpointing gives it the same gradients.
fn lm_loss_matches(
    dir: &std::path::Path,
    batch: &Batch,
    starts: &[usize],
    want: f64,
) -> Result<(), String> {
    let model =
        Classifier::load(dir.to_str().unwrap(), Device::Cpu, 0).map_err(|e| e.to_string())?;
    let head = model
        .lm_head("generative finetuning")
        .map_err(|e| e.to_string())?;
    let got = model
        .lm_backward(batch, starts, &head, 1.0, false)
        .map_err(|e| e.to_string())?;
    if (got - want).abs() > 1e-4 * want.abs() {
        return Err(format!("{got} where transformers gives {want}"));
    }
    let plain = take_gradients(&model);
    let again = model
        .lm_backward(batch, starts, &head, 1.0, true)
        .map_err(|e| e.to_string())?;
    if (again - got).abs() > 1e-6 * got.abs() {
        return Err(format!("{again} with checkpointing, {got} without"));
    }
    compare(&plain, &take_gradients(&model), 1e-5)?;
    // The LM head over two positions at a time: the same loss and gradients.
    let chunked = model
        .lm_backward_in_chunks(batch, starts, &head, 1.0, false, 2)
        .map_err(|e| e.to_string())?;
    if (chunked - got).abs() > 1e-6 * got.abs() {
        return Err(format!("{chunked} in chunks of 2 positions, {got} at once"));
    }
    compare(&plain, &take_gradients(&model), 1e-5)
        .map_err(|e| format!("LM head in chunks of 2 positions: {e}"))
}

/// Recomputing each layer in the backward pass gives the gradients of the plain backward pass.
fn checkpointing_gives_the_same_gradients(
    model: &Classifier,
    batch: &Batch,
    labels: &Tensor,
) -> Result<(), String> {
    take_gradients(model);
    loss_value(&Loss::Xent, &model.forward(batch), labels, 0.0)
        .unwrap()
        .backward();
    let plain = take_gradients(model);
    let (_, logits) = model
        .backward_checkpointed(batch, |logits| loss_value(&Loss::Xent, logits, labels, 0.0))
        .unwrap();
    let recomputed = take_gradients(model);
    let expected = tch::no_grad(|| model.forward(batch));
    if relative_error(&logits, &expected) > 1e-6 {
        return Err("the logits differ".into());
    }
    compare(&plain, &recomputed, 1e-5)
}

/// However a batch is cut into minibatches (one example each: no padding; three, grouped by
/// length: padded), whichever way a whole-batch loss gets its target (kept graphs or a no-grad
/// pass), with or without checkpointing, the batch's gradient is the same.
fn minibatches_give_the_batch_gradient(model: &Classifier, r: &Reference) -> Result<(), String> {
    use w2s::train::{backward_batch, Inputs, WholeBatch};
    let row: Vec<i64> = r.ids[0]
        .iter()
        .zip(&r.mask[0])
        .filter(|(_, m)| **m == 1)
        .map(|(i, _)| *i)
        .collect();
    let n = row.len();
    let ids: Vec<Vec<i64>> = [n, n / 3, n - 1, 2, n / 2, n - 2]
        .iter()
        .map(|&k| row[..k.max(2)].to_vec())
        .collect();
    let labels = [
        [0.3, 0.7],
        [0.9, 0.1],
        [0.2, 0.8],
        [0.6, 0.4],
        [0.45, 0.55],
        [0.8, 0.2],
    ];
    let inputs = Inputs::Tokens(&ids);
    let mut batch: Vec<usize> = (0..ids.len()).collect();
    inputs.group_by_length(&mut batch);
    if batch == (0..ids.len()).collect::<Vec<_>>() {
        return Err("grouping by length did not reorder the batch".into());
    }
    for loss in [Loss::Xent, Loss::from_name("logconf").unwrap()] {
        let run = |minibatch, whole, checkpointing| {
            backward_batch(
                model,
                &inputs,
                &batch,
                &w2s::train::Labels::Soft(&labels),
                &loss,
                minibatch,
                0.5,
                whole,
                checkpointing,
            )
            .unwrap();
            take_gradients(model)
        };
        let alone = run(1, WholeBatch::Recompute, false);
        let what = loss.name();
        compare(&alone, &run(3, WholeBatch::Recompute, false), 1e-5)
            .map_err(|e| format!("{what}, padded minibatches of 3: {e}"))?;
        compare(&alone, &run(3, WholeBatch::KeepGraphs, false), 1e-5)
            .map_err(|e| format!("{what}, kept graphs: {e}"))?;
        compare(&alone, &run(3, WholeBatch::Recompute, true), 1e-5)
            .map_err(|e| format!("{what}, checkpointed minibatches: {e}"))?;
    }
    Ok(())
}

/// LoRA on the family's default targets: the untrained adapters change nothing, training moves
/// only adapters and head, and the merged model folder computes what the adapted model does.
fn lora_trains_only_adapters(
    dir: &std::path::Path,
    batch: &Batch,
    expected: &Tensor,
) -> Result<(), String> {
    let cfg = LoraConfig::default();
    let mut model = Classifier::load_with(dir.to_str().unwrap(), Device::Cpu, 0, Some(&cfg), false)
        .map_err(|e| format!("{e:#}"))?;
    let ours = tch::no_grad(|| model.features(batch)).to_kind(Kind::Double);
    let err = relative_error(&ours, expected);
    if err >= 1e-4 {
        return Err(format!(
            "untrained adapters change the features ({err:.2e})"
        ));
    }
    model.set_backbone_trainable(true);
    let vars = model.vs.variables();
    let trainable: Vec<&String> = vars.keys().filter(|k| vars[*k].requires_grad()).collect();
    if trainable
        .iter()
        .any(|k| !is_adapter(k) && !k.starts_with("w2s_head"))
    {
        return Err(format!("base weights are trainable: {trainable:?}"));
    }
    if !trainable.iter().any(|k| is_adapter(k)) {
        return Err("no adapters".into());
    }
    let frozen: Vec<(String, Tensor)> = vars
        .iter()
        .filter(|(k, _)| !is_adapter(k) && !k.starts_with("w2s_head"))
        .map(|(k, v)| (k.clone(), v.detach().copy()))
        .collect();
    let labels = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0]).view([3, 2]);
    let mut opt = tch::nn::Adam::default().build(&model.vs, 1e-2).unwrap();
    for _ in 0..3 {
        opt.zero_grad();
        loss_value(&Loss::Xent, &model.forward(batch), &labels, 0.0)
            .unwrap()
            .backward();
        opt.step();
    }
    for (k, before) in &frozen {
        if !vars[k].equal(before) {
            return Err(format!("`{k}` changed"));
        }
    }
    let moved = vars
        .iter()
        .filter(|(k, v)| k.ends_with("lora_B") && v.abs().sum(Kind::Double).double_value(&[]) > 0.0)
        .count();
    if moved == 0 {
        return Err("no lora_B moved from zero".into());
    }
    let trained = tch::no_grad(|| model.features(batch));
    let out = tempfile::tempdir().unwrap();
    model
        .save(out.path(), Save::Merged)
        .map_err(|e| format!("{e:#}"))?;
    let merged = Classifier::load(out.path().to_str().unwrap(), Device::Cpu, 0)
        .map_err(|e| format!("merged folder: {e:#}"))?;
    let again = tch::no_grad(|| merged.features(batch));
    let err = relative_error(&again.to_kind(Kind::Double), &trained.to_kind(Kind::Double));
    if err >= 1e-4 {
        return Err(format!("merged model differs ({err:.2e})"));
    }
    Ok(())
}
