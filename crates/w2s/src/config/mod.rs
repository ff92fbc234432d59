//! The TOML file that `w2s run` reads. Every field has a default; command-line flags
//! override the file.
//!
//! ```toml
//! dataset = "demo"          # a registered task (`w2s datasets list`)
//! # data_dir = "data/sciq"  # local copy of the raw files
//! n_docs = 2000             # train examples (halved into train1 / train2); default 20000
//! n_test_docs = 1000        # default 10000 (the reference's defaults)
//! seed = 0
//! model = "models/all-MiniLM-L6-v2"   # folder, hub id, or `bow`
//! weak_model = "bow"        # makes this a weak-to-strong run; omit for ground truth;
//!                           # a list averages several supervisors' soft labels
//! # iterations = 0          # strong-to-strong rounds after the student
//! [train]                   # training options of `model`
//! loss = "logconf"          # or a table: loss = { name = "logconf", aux_coef = 0.5, warmup_frac = 0.2 }
//! epochs = 2
//! batch_size = 32
//! minibatch_size = 32
//! # lr = 5e-5               # default: the reference's table, else by size (ModelInfo::default_lr)
//! # linear_probe = false    # train the head only, on cached features
//! # head_bias = false       # a bias in the classification head (the reference has none)
//! # bf16 = false            # backbone weights in bf16
//! # mixed_precision = false # f32 weights, bf16 matmuls (autocast)
//! # checkpointing = false   # recompute layers in the backward pass: less memory
//! # early_stopping = "weak" # or "oracle", or { labels = "weak", metric = "auroc", every = 20, val_frac = 0.2 }
//! # lora = true             # or { rank = 8, alpha = 16, targets = ["query", "value"], save = "merged" }
//! # generative = true       # score " No" / " Yes" with the LM head (decoders); epochs = 0: zero-shot
//! # generative_finetuning = true  # first finetune the LM on train1's (preferred) replies; or { epochs = 1, lr = 1e-5, replies = "both" }
//! # relabel = "knn"         # or logreg, knn_filter, logreg_filter, or { probe = { name = "knn", k = 20 }, fraction = 0.1, action = "relabel" }
//! [weak]                    # the supervisor's options where they differ: by default it takes
//!                           # [train]'s, as train_simple.py does (not loss, early_stopping,
//!                           # relabel, lora, generative, generative_finetuning)
//! epochs = 4
//! ```
//!
//! The parts: `fields.rs`, the training options as keys and flags ([`TrainFields`]) and the
//! supervisor-inheritance rule; `run_file.rs`, the run file and its plan ([`RunFile`]);
//! `demo.rs`, the demo's options ([`Demo`]).

mod demo;
mod run_file;

pub use crate::options::fields::*;
pub use demo::*;
pub use run_file::*;

use anyhow::Result;

/// The TOML keys of an options struct, in order, as its `Deserialize` derive names them (read
/// from the derive's field list: a deserializer that only listens). Tests match them against
/// the flags; front ends can offer them as names.
pub fn keys<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
    struct Listen<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Listen<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> std::result::Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("listened"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Listen(&mut fields));
    fields.to_vec()
}

/// The most strong-to-strong rounds a run may ask for.
pub const MAX_ITERATIONS: usize = 100;

/// `iterations`, in a run file or a sweep file: at most [`MAX_ITERATIONS`] rounds.
pub fn check_iterations(n: usize) -> Result<()> {
    if n > MAX_ITERATIONS {
        anyhow::bail!("iterations = {n}: at most {MAX_ITERATIONS} strong-to-strong rounds");
    }
    Ok(())
}

/// The most CPU threads a run may ask for: more than any machine has cores, fewer than makes
/// libtorch's thread pool overflow its stack.
pub const MAX_THREADS: i32 = 1024;

/// `--threads`: a whole number from 1 to [`MAX_THREADS`].
pub fn parse_threads(s: &str) -> std::result::Result<i32, String> {
    match s.parse::<i32>() {
        Ok(t) if (1..=MAX_THREADS).contains(&t) => Ok(t),
        _ => Err(format!(
            "`{s}`: give a whole number of threads from 1 to {MAX_THREADS}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::Loss;
    use crate::model::ModelInfo;

    #[test]
    fn parses_names_and_tables() {
        let f: RunFile = toml::from_str(
            "model = \"bow\"\n[train]\nloss = { name = \"logconf\", aux_coef = 0.3 }\n[weak]\nepochs = 4\n",
        )
        .unwrap();
        let info = ModelInfo {
            name: crate::model::BOW.into(),
            family: crate::model::BOW.into(),
            parameters: 1,
            vocab_size: 10,
            max_positions: 10,
            shape: None,
        };
        let t = f.train.resolve(&info, false).unwrap();
        assert_eq!(
            t.loss,
            Loss::Logconf {
                aux_coef: 0.3,
                warmup_frac: 0.2,
                warmup: crate::loss::Warmup::Linear
            }
        );
        assert_eq!(t.lr, 1e-2);
        assert_eq!(f.weak.resolve(&info, false).unwrap().epochs, 4);
    }

    #[test]
    fn mixed_precision_is_the_default_only_where_it_pays_and_changes_something() {
        let info = |family: &str| ModelInfo {
            name: "m".into(),
            family: family.into(),
            parameters: 1,
            vocab_size: 10,
            max_positions: 10,
            shape: None,
        };
        let mixed = |fields: &TrainFields, family: &str, pays: bool| {
            fields.resolve(&info(family), pays).unwrap().mixed_precision
        };
        let silent = TrainFields::default();
        assert!(mixed(&silent, "bert", true));
        assert!(!mixed(&silent, "bert", false));
        assert!(
            !mixed(&silent, crate::model::BOW, true),
            "nothing to compute in bf16"
        );
        let bf16 = TrainFields {
            bf16: Some(true),
            ..Default::default()
        };
        assert!(!mixed(&bf16, "llama", true), "bf16 weights: already bf16");
        let off = TrainFields {
            mixed_precision: Some(false),
            ..Default::default()
        };
        assert!(!mixed(&off, "bert", true), "the user's word wins");
        let on = TrainFields {
            mixed_precision: Some(true),
            ..Default::default()
        };
        assert!(mixed(&on, "bert", false));
    }

    #[test]
    fn the_supervisor_takes_the_students_options_as_the_reference_does() {
        let f: RunFile = toml::from_str(
            "model = \"bow\"\nweak_model = \"bow\"\n[train]\nepochs = 3\nlr = 0.5\nhead_bias = true\nloss = \"logconf\"\nearly_stopping = \"weak\"\n[weak]\nbatch_size = 16\n",
        )
        .unwrap();
        let RunPlan::WeakToStrong(exp) = f.plan(false).unwrap() else {
            panic!("a weak-to-strong plan")
        };
        let w = &exp.weak[0].train;
        assert_eq!(
            (w.epochs, w.lr, w.batch_size, w.head_bias),
            (3, 0.5, 16, true)
        );
        assert_eq!(
            w.loss,
            Loss::Xent,
            "a supervisor trains on ground truth with xent"
        );
        assert!(w.early_stopping.is_none());
        let s = &exp.students[0].train;
        assert_eq!((s.epochs, s.batch_size, s.loss.name()), (3, 32, "logconf"));
        // Silent about the learning rate: each model its own default.
        let f: RunFile =
            toml::from_str("model = \"bow\"\nweak_model = \"bow\"\n[train]\nepochs = 3\n").unwrap();
        let RunPlan::WeakToStrong(exp) = f.plan(false).unwrap() else {
            panic!("a weak-to-strong plan")
        };
        assert_eq!((exp.weak[0].train.lr, exp.weak[0].train.epochs), (1e-2, 3));
        assert!(
            !exp.weak[0].train.head_bias,
            "no head bias by default, as the reference"
        );
    }

    #[test]
    fn keys_are_the_fields_as_serde_names_them() {
        // Every training option is a key, in the same order: defined once, in `options`.
        let train = keys::<TrainFields>();
        assert_eq!(train, keys::<crate::options::TrainOptions>());
        assert_eq!(train[..2], ["lr", "epochs"]);
        assert!(keys::<RunFile>().contains(&"weak_model"));
    }

    #[test]
    fn overlay_replaces_set_fields_whole() {
        let base: TrainFields =
            toml::from_str("lr = 0.1\nepochs = 3\nloss = { name = \"logconf\", aux_coef = 0.3 }\n")
                .unwrap();
        let over: TrainFields = toml::from_str("epochs = 5\nloss = \"product\"\n").unwrap();
        let m = base.merged(&over);
        assert_eq!((m.lr, m.epochs), (Some(0.1), Some(5)));
        assert_eq!(m.loss.unwrap().resolve().unwrap().name(), "product");
        // A value that is not exactly representable in decimal survives the merge bit for bit
        // (it is part of a run's identity).
        let lr = 1.0 / 3.0 * 1e-4;
        let m = TrainFields {
            lr: Some(lr),
            ..Default::default()
        }
        .merged(&TrainFields::default());
        assert_eq!(m.lr.unwrap().to_bits(), lr.to_bits());
        let without = base.without(&["loss"]);
        assert!(without.loss.is_none() && without.lr == Some(0.1));
    }

    #[test]
    fn weak_flags_are_train_fields_under_another_name() {
        use clap::{Args, FromArgMatches};
        let cmd = || WeakFlags::augment_args(clap::Command::new("run").no_binary_name(true));
        let m = cmd()
            .try_get_matches_from(["--weak-epochs", "3", "--weak-lora", "--weak-lr=0.5"])
            .unwrap();
        let WeakFlags(f) = WeakFlags::from_arg_matches(&m).unwrap();
        assert_eq!((f.epochs, f.lr), (Some(3), Some(0.5)));
        assert!(matches!(f.lora, Some(Switch::On(true))));
        assert!(f.batch_size.is_none() && f.head_bias.is_none());
        // A supervisor has no loss, and a bad value is refused where it is given.
        assert!(cmd().try_get_matches_from(["--weak-loss", "xent"]).is_err());
        assert!(cmd()
            .try_get_matches_from(["--weak-epochs", "two"])
            .is_err());
    }

    #[test]
    fn the_weak_table_refuses_what_only_a_student_takes() {
        let f: RunFile =
            toml::from_str("model = \"bow\"\nweak_model = \"bow\"\n[weak]\nloss = \"logconf\"\n")
                .unwrap();
        let err = f.plan(false).err().unwrap().to_string();
        assert!(err.contains("[weak] sets `loss`"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.toml");
        std::fs::write(&p, "seed = 1\nepochz = 3\n").unwrap();
        let err = RunFile::read(&p).unwrap_err().to_string();
        assert!(
            err.contains("run.toml") && err.contains("epochz") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn the_demo_defaults_are_the_same_for_flags_and_keys() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            demo: Demo,
        }
        let flags = <Flags as clap::Parser>::parse_from(["demo"]).demo;
        let keys = Demo::default();
        assert_eq!(
            serde_json::to_value(&flags).unwrap(),
            serde_json::to_value(&keys).unwrap()
        );
        assert_eq!(keys.seeds, [0, 1, 2]);
        assert_eq!(keys.losses, ["xent", "logconf"]);
        assert_eq!(keys.strong, DEMO_STRONG);
    }
}
