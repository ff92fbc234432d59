//! A bag-of-words classifier trained from scratch: the weak supervisor that needs no
//! download. Mean of word embeddings over hashed lower-cased words (see
//! `TextEncoder::HashedWords`); the classification head sits on top like any backbone's.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tch::nn::{self, Module};
use tch::Tensor;

pub const BUCKETS: i64 = 1 << 16;
pub const DIM: i64 = 64;

pub struct BagOfWords {
    embed: nn::Embedding,
}

impl BagOfWords {
    /// Small random vectors (std 0.1): a word the model never saw in training then adds only
    /// noise, as it would for a real model with no knowledge of it. Drawn from a ChaCha8
    /// stream seeded by `seed`, not libtorch's global generator, so the same seed gives the
    /// same model on any machine and whatever else runs in the process.
    pub fn new(p: &nn::Path, seed: u64) -> BagOfWords {
        let mut embed = nn::embedding(p / "embed", BUCKETS, DIM, Default::default());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 0.1).unwrap();
        let values: Vec<f32> = (0..BUCKETS * DIM)
            .map(|_| normal.sample(&mut rng))
            .collect();
        let init = Tensor::from_slice(&values).view([BUCKETS, DIM]);
        tch::no_grad(|| embed.ws.copy_(&init.to_device(embed.ws.device())));
        BagOfWords { embed }
    }

    /// Word vectors `[batch, seq, DIM]`; pooling (mean over the mask) happens in the classifier.
    pub fn forward(&self, ids: &Tensor) -> Tensor {
        self.embed.forward(ids)
    }
}
