//! Equal `HashMap` and `HashSet` arguments are one argument list, whatever
//! their insertion order or hasher: a memoized function computes once.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};

use cache_core::memoize;

static RUNS: AtomicUsize = AtomicUsize::new(0);

// Memoized functions take their key arguments by value, as callers pass them.
#[allow(clippy::needless_pass_by_value)]
#[memoize(timeout = 60)]
fn total(weights: HashMap<String, u32>, tags: HashSet<u16>) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    weights.values().map(|v| u64::from(*v)).sum::<u64>() + tags.len() as u64
}

type Fixed = BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

#[test]
fn equal_maps_and_sets_in_any_order_compute_once() {
    let names: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    for round in 0..5usize {
        // Another insertion order and, every other round, another hasher.
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.rotate_left(round * 7);
        if round % 2 == 1 {
            order.reverse();
        }
        let mut weights: HashMap<String, u32> = HashMap::with_hasher(RandomState::new());
        let mut fixed: HashMap<String, u32, Fixed> = HashMap::default();
        for i in &order {
            weights.insert(names[*i].clone(), u32::try_from(*i).unwrap());
            fixed.insert(names[*i].clone(), u32::try_from(*i).unwrap());
        }
        assert_eq!(weights, fixed.clone().into_iter().collect());
        let tags: HashSet<u16> = order.iter().map(|i| u16::try_from(*i).unwrap()).collect();
        assert_eq!(total(weights, tags), 780 + 40);
    }
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        1,
        "five equal argument lists, one computation"
    );

    let mut other: HashMap<String, u32> = HashMap::new();
    other.insert("k0".into(), 1);
    assert_eq!(total(other, HashSet::new()), 1);
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        2,
        "a different map is another entry"
    );
}
