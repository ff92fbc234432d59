//! The real all-MiniLM-L6-v2, all-mpnet-base-v2 and SmolLM2-135M-Instruct checkpoints:
//! tokenizers, parity with transformers on a padded batch, gradients.

use crate::common;

use tch::{nn::OptimizerConfig, Device, Kind, Tensor};
use w2s::loss::{loss_value, Loss};
use w2s::model::{pad_batch, Classifier, Pooling};

const TEXTS: &[&str] = &[
    "the movie was wonderful.",
    "i expected the hotel to be awful, but it was charming.",
    "no.",
];

fn load() -> Classifier {
    Classifier::load(common::minilm().to_str().unwrap(), Device::Cpu, 0).unwrap()
}

fn batch(c: &Classifier) -> w2s::model::Batch {
    let ids = c.encoder.encode_all(TEXTS).unwrap();
    let refs: Vec<&[i64]> = ids.iter().map(|v| v.as_slice()).collect();
    pad_batch(&refs, c.encoder.pad_id(), Device::Cpu)
}

#[test]
fn tokenizer_matches_bert_wordpiece() {
    let c = load();
    let ids = c.encoder.encode_all(&["hello world"]).unwrap();
    // [CLS] hello world [SEP] in bert-base-uncased's vocabulary
    assert_eq!(ids[0], vec![101, 7592, 2088, 102]);
    assert_eq!(c.encoder.pad_id(), 0);
    assert_eq!(c.info.family, "bert");
    assert_eq!(c.pooling, Pooling::Mean);
    assert!(
        (22_000_000..23_000_000).contains(&c.info.parameters),
        "{}",
        c.info.parameters
    );
}

/// transformers' token ids and pooled features of `texts` (scripts/fixtures/hf_features.py;
/// `flags`: `lm` for a decoder's LM logits too, `autocast` for bf16 autocast).
fn hf_features(
    model_dir: &std::path::Path,
    pooling: &str,
    texts: &[impl serde::Serialize],
    flags: &[&str],
) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let (texts_path, out) = (tmp.path().join("texts.json"), tmp.path().join("out.json"));
    std::fs::write(&texts_path, serde_json::to_string(texts).unwrap()).unwrap();
    let (model, texts_arg, out_arg) = (
        model_dir.to_str().unwrap(),
        texts_path.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let mut args = vec![model, pooling, texts_arg, out_arg];
    args.extend_from_slice(flags);
    common::run_python("hf_features.py", &args);
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

/// Pooled features of `model` on TEXTS against transformers' (scripts/fixtures/hf_features.py).
fn check_parity(model_dir: &std::path::Path) {
    let c = Classifier::load(model_dir.to_str().unwrap(), Device::Cpu, 0).unwrap();
    let reference = hf_features(model_dir, "mean", TEXTS, &[]);
    let b = batch(&c);
    let ref_ids: Vec<Vec<i64>> = serde_json::from_value(reference["ids"].clone()).unwrap();
    assert_eq!(
        Vec::<Vec<i64>>::try_from(&b.ids).unwrap(),
        ref_ids,
        "token ids differ"
    );
    let ref_feats: Vec<Vec<f64>> = serde_json::from_value(reference["features"].clone()).unwrap();
    let ours = tch::no_grad(|| c.features(&b)).to_kind(Kind::Double);
    let expected = Tensor::from_slice2(&ref_feats);
    let rel = (&ours - &expected).norm().double_value(&[]) / expected.norm().double_value(&[]);
    assert!(
        rel < 1e-4,
        "{}: relative difference {rel}",
        model_dir.display()
    );
}

#[test]
fn minilm_features_match_transformers_on_a_padded_batch() {
    check_parity(&common::minilm());
}

#[test]
fn mpnet_features_match_transformers_on_a_padded_batch() {
    let dir = common::mpnet();
    let c = Classifier::load(dir.to_str().unwrap(), Device::Cpu, 0).unwrap();
    assert_eq!(c.info.family, "mpnet");
    assert!(
        (108_000_000..110_000_000).contains(&c.info.parameters),
        "{}",
        c.info.parameters
    );
    assert_eq!(c.info.max_positions, 512);
    drop(c);
    check_parity(&dir);
}

#[test]
fn every_parameter_gets_a_finite_nonzero_gradient() {
    let mut c = load();
    let b = batch(&c);
    let labels = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0]).view([3, 2]);
    // The head starts at zero, so at step 0 no gradient reaches the backbone (d logits /
    // d features = head weight = 0). One optimizer step moves the head; the check runs on
    // the second backward pass.
    let mut opt = tch::nn::Adam::default().build(&c.vs, 1e-3).unwrap();
    for pass in 0..2 {
        opt.zero_grad();
        loss_value(&Loss::Xent, &c.forward(&b), &labels, 0.0)
            .unwrap()
            .backward();
        if pass == 0 {
            opt.step();
        }
    }
    let vars = c.vs.variables();
    assert!(vars.len() > 90, "{} variables", vars.len());
    for (name, v) in vars {
        let g = v.grad();
        assert!(g.defined(), "{name}: no gradient");
        assert!(
            bool::try_from(g.isfinite().all()).unwrap(),
            "{name}: non-finite gradient"
        );
        assert!(
            g.abs().sum(Kind::Double).double_value(&[]) > 0.0,
            "{name}: zero gradient"
        );
    }

    // Linear probe: only the head trains.
    c.set_backbone_trainable(false);
    opt.zero_grad();
    loss_value(&Loss::Xent, &c.forward(&b), &labels, 0.0)
        .unwrap()
        .backward();
    for (name, v) in c.vs.variables() {
        let has = v.grad().defined() && v.grad().abs().sum(Kind::Double).double_value(&[]) > 0.0;
        assert_eq!(has, name.starts_with("w2s_head"), "{name}");
    }
}

#[test]
fn bf16_backbone_keeps_an_f32_head_and_close_logits() {
    let mut c = load();
    let b = batch(&c);
    // Move the head off zero so that logits depend on the features.
    tch::no_grad(|| {
        for (name, mut v) in c.vs.variables() {
            if name.starts_with("w2s_head") {
                v.copy_(&(v.randn_like() * 0.5));
            }
        }
    });
    let full = tch::no_grad(|| c.forward(&b));
    c.backbone_to_bf16();
    let half = tch::no_grad(|| c.forward(&b));
    assert_eq!(half.kind(), Kind::Float);
    for (name, v) in c.vs.variables() {
        let expected = if name.starts_with("w2s_head") {
            Kind::Float
        } else {
            Kind::BFloat16
        };
        assert_eq!(v.kind(), expected, "{name}");
    }
    let rel = (&full - &half).norm().double_value(&[]) / full.norm().double_value(&[]);
    assert!(rel < 0.05, "bf16 logits differ by {rel}");
}

/// Sentences of mixed lengths for the decoder, one of them long (past 300 tokens), where a
/// wrong rope theta or position handling shows.
fn decoder_texts() -> Vec<String> {
    let long = (0..40)
        .map(|i| format!("Sentence {i} of a long story about a lighthouse keeper and the sea."))
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        "The capital of France is".to_owned(),
        "Human: is this review positive? \"The hotel was not dreadful at all.\"\nAssistant:"
            .to_owned(),
        "no.".to_owned(),
        long,
    ]
}

/// Under mixed precision w2s computes what transformers computes under
/// `torch.autocast("cpu", bfloat16)`: bf16 matmuls and attention, projections' outputs left
/// in bf16 as autocast leaves them (an MLP's activation runs on them), norms, rotary tables
/// and the residual stream in f32. The same operations in the same order: on SmolLM2 the
/// features are equal, where w2s's f32 features are 7e-3 to 1.3e-2 from them. (The encoders
/// come close, not equal: MPNet's attention adds its position bias in f32 with an explicit
/// softmax in transformers, and one of MiniLM's three texts differs by 3e-3; docs/MODELS.md.)
fn mixed_precision_follows_autocast(model_dir: &std::path::Path, pooling: &str, texts: &[String]) {
    let reference = hf_features(model_dir, pooling, texts, &["autocast"]);
    let expected: Vec<Vec<f64>> = serde_json::from_value(reference["features"].clone()).unwrap();
    let expected = Tensor::from_slice2(&expected);
    let mut c = Classifier::load(model_dir.to_str().unwrap(), Device::Cpu, 0).unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ids = c.encoder.encode_all(&refs).unwrap();
    let rows: Vec<&[i64]> = ids.iter().map(|v| v.as_slice()).collect();
    let b = pad_batch(&rows, c.encoder.pad_id(), Device::Cpu);
    let f32_features = tch::no_grad(|| c.features(&b)).to_kind(Kind::Double);
    c.mixed_precision = true;
    let ours = tch::no_grad(|| c.features(&b)).to_kind(Kind::Double);
    for row in 0..texts.len() as i64 {
        let e = expected.get(row);
        let rel = |a: &Tensor| (a - &e).norm().double_value(&[]) / e.norm().double_value(&[]);
        let (to_autocast, f32_to_autocast) = (rel(&ours.get(row)), rel(&f32_features.get(row)));
        eprintln!("{}: text {row}: mixed vs autocast {to_autocast:.2e}, f32 vs autocast {f32_to_autocast:.2e}", model_dir.display());
        assert!(
            to_autocast < 1e-5,
            "{} text {row}: mixed precision is {to_autocast:.2e} from autocast (f32: {f32_to_autocast:.2e})",
            model_dir.display()
        );
    }
}

#[test]
fn smollm2_last_token_features_and_lm_logits_match_transformers() {
    let dir = common::smollm2();
    let c = Classifier::load(dir.to_str().unwrap(), Device::Cpu, 0).unwrap();
    assert_eq!(
        (c.info.family.as_str(), c.pooling),
        ("llama", Pooling::Last)
    );
    assert!(
        (134_000_000..136_000_000).contains(&c.info.parameters),
        "{}",
        c.info.parameters
    );
    let texts = decoder_texts();
    let reference = hf_features(&dir, "last", &texts, &["lm"]);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ids = c.encoder.encode_all(&refs).unwrap();
    let ref_ids: Vec<Vec<i64>> = serde_json::from_value(reference["ids"].clone()).unwrap();
    // transformers pads on the right with the pad id; compare the real tokens.
    for (ours, theirs) in ids.iter().zip(&ref_ids) {
        assert_eq!(ours.as_slice(), &theirs[..ours.len()], "token ids differ");
    }
    assert!(
        ids[3].len() > 300,
        "the long text has {} tokens",
        ids[3].len()
    );
    let rows: Vec<&[i64]> = ids.iter().map(|v| v.as_slice()).collect();
    let b = pad_batch(&rows, c.encoder.pad_id(), Device::Cpu);
    let features = tch::no_grad(|| c.features(&b)).to_kind(Kind::Double);
    let lm = c.lm_head("the parity test").unwrap().to_kind(Kind::Double);
    let logits = features.matmul(&lm.tr());
    for (ours, key) in [(&features, "features"), (&logits, "lm_logits")] {
        let expected: Vec<Vec<f64>> = serde_json::from_value(reference[key].clone()).unwrap();
        let expected = Tensor::from_slice2(&expected);
        for row in 0..texts.len() as i64 {
            let (a, e) = (ours.get(row), expected.get(row));
            let rel = (&a - &e).norm().double_value(&[]) / e.norm().double_value(&[]);
            assert!(rel < 1e-4, "{key} of text {row}: relative difference {rel}");
        }
    }
    mixed_precision_follows_autocast(&dir, "last", &texts);
    // The LM still knows the fact the conversion checked: " Paris" is its top next token.
    let top = logits.get(0).argmax(0, false).int64_value(&[]);
    let paris = c
        .encoder
        .encode_all(&["The capital of France is Paris"])
        .unwrap()[0]
        .last()
        .copied()
        .unwrap();
    assert_eq!(
        top, paris,
        "the top next token of 'The capital of France is'"
    );
}
