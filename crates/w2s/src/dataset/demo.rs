//! The built-in demo task: sentiment of templated reviews, made so that a pretrained
//! model's knowledge of word meaning matters.
//!
//! Train examples use only a third of the adjectives ("seen" ones); test examples use all of
//! them. A model trained from scratch (the bag-of-words weak supervisor) can only learn the
//! polarity of adjectives it saw, and cannot model negation or "but" contrasts at all. A
//! pretrained encoder knows that "superb" and "dreadful" mean opposite things even when train
//! never shows them, which is the kind of latent knowledge weak-to-strong asks a student to
//! bring out from imperfect supervision.

use super::{Example, Pools};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const POSITIVE: &[&str] = &[
    "good",
    "great",
    "excellent",
    "wonderful",
    "fantastic",
    "amazing",
    "superb",
    "brilliant",
    "delightful",
    "lovely",
    "pleasant",
    "enjoyable",
    "outstanding",
    "terrific",
    "marvelous",
    "splendid",
    "charming",
    "impressive",
    "fabulous",
    "magnificent",
    "perfect",
    "beautiful",
    "nice",
    "awesome",
    "exceptional",
    "remarkable",
    "stellar",
    "glorious",
    "exquisite",
    "admirable",
    "satisfying",
    "heartwarming",
    "gorgeous",
    "refreshing",
    "sublime",
    "superior",
];
const NEGATIVE: &[&str] = &[
    "bad",
    "terrible",
    "awful",
    "horrible",
    "dreadful",
    "poor",
    "boring",
    "dull",
    "disappointing",
    "mediocre",
    "lousy",
    "atrocious",
    "abysmal",
    "unpleasant",
    "painful",
    "tedious",
    "miserable",
    "pathetic",
    "sloppy",
    "ugly",
    "annoying",
    "frustrating",
    "bland",
    "forgettable",
    "clumsy",
    "awkward",
    "horrendous",
    "subpar",
    "disastrous",
    "unbearable",
    "lame",
    "tiresome",
    "dismal",
    "shoddy",
    "inferior",
    "appalling",
];
const NOUNS: &[&str] = &[
    "movie",
    "film",
    "meal",
    "hotel",
    "service",
    "book",
    "concert",
    "show",
    "trip",
    "game",
    "phone",
    "restaurant",
    "album",
    "performance",
    "class",
    "play",
    "room",
    "staff",
    "app",
    "museum",
    "coffee",
    "lecture",
    "flight",
    "camera",
];
const INTENSIFIERS: &[&str] = &["really", "truly", "quite", "very", "rather", "absolutely"];

/// Number of examples in each pool; runs pick `n_docs` / `n_test_docs` from these.
pub const TRAIN_POOL: usize = 20_000;
pub const TEST_POOL: usize = 5_000;
/// The pools do not depend on the run's seed: seeds choose and order examples, as they do
/// for real datasets.
const GENERATOR_SEED: u64 = 0x5eed_de30;

/// An adjective is "seen" (may appear in train) when its index is a multiple of 3.
fn seen(index: usize) -> bool {
    index.is_multiple_of(3)
}

/// Both pools of the demo task.
/// Bumped when the generator changes the examples it makes: demo runs then retrain.
pub const VERSION: u32 = 1;

pub fn pools() -> Pools {
    let mut rng = ChaCha8Rng::seed_from_u64(GENERATOR_SEED);
    let train = (0..TRAIN_POOL).map(|_| example(&mut rng, true)).collect();
    let test = (0..TEST_POOL).map(|_| example(&mut rng, false)).collect();
    Pools { train, test }
}

fn adjective(rng: &mut ChaCha8Rng, positive: bool, seen_only: bool) -> &'static str {
    let list = if positive { POSITIVE } else { NEGATIVE };
    loop {
        let i = rng.gen_range(0..list.len());
        if !seen_only || seen(i) {
            return list[i];
        }
    }
}

fn example(rng: &mut ChaCha8Rng, seen_only: bool) -> Example {
    let label = rng.gen_bool(0.5);
    let noun = NOUNS.choose(rng).unwrap();
    // Plain statements dominate; negations and contrasts, which no bag of words can read,
    // are a minority, so the weak supervisor is mostly wrong for lack of knowledge (unseen
    // adjectives) rather than for lack of structure.
    let template = rng.gen_range(0..20);
    let mut adj = |positive: bool| adjective(rng, positive, seen_only);
    // Each template says which polarity its adjective(s) must have for the label to hold.
    let text = match template {
        0..=7 => format!("the {noun} was {}.", adj(label)),
        8..=11 => {
            let a = adj(label);
            let intensifier = INTENSIFIERS[(a.len() * 7 + noun.len()) % INTENSIFIERS.len()];
            format!("honestly, the {noun} was {intensifier} {a}.")
        }
        12..=14 => format!("the {noun} was {} and {}.", adj(label), adj(label)),
        15..=16 => format!("the {noun} was not {}.", adj(!label)),
        17..=18 => format!(
            "i expected the {noun} to be {}, but it was {}.",
            adj(!label),
            adj(label)
        ),
        _ => format!("the {noun} was far from {}.", adj(!label)),
    };
    Example {
        text,
        label: label as u8,
        replies: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_fixed_balanced_and_split_the_adjectives() {
        let a = pools();
        assert_eq!(a.train, pools().train);
        let rate = crate::dataset::positive_rate(&a.train);
        assert!((0.45..0.55).contains(&rate), "label balance {rate}");
        let unseen: Vec<&str> = POSITIVE
            .iter()
            .chain(NEGATIVE)
            .enumerate()
            .filter(|(i, _)| !seen(i % POSITIVE.len().max(1)))
            .map(|(_, w)| *w)
            .collect();
        let words = |e: &Example| {
            e.text
                .split(|c: char| !c.is_alphanumeric())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let train_words: std::collections::HashSet<String> =
            a.train.iter().flat_map(words).collect();
        let test_words: std::collections::HashSet<String> = a.test.iter().flat_map(words).collect();
        for w in &unseen {
            assert!(!train_words.contains(*w), "{w} leaked into train");
            assert!(test_words.contains(*w), "{w} never tested");
        }
    }

    #[test]
    fn negations_flip_the_label() {
        let p = pools();
        let e = p
            .train
            .iter()
            .find(|e| e.text.contains(" not "))
            .expect("a negated example");
        let adj = e.text.trim_end_matches('.').rsplit(' ').next().unwrap();
        let positive_adj = POSITIVE.contains(&adj);
        assert_eq!(e.label == 1, !positive_adj, "{}", e.text);
    }
}
