//! Property test: random filters built from `must` / `should` / `must_not` / `min_should` over
//! simple predicates give the same verdict as a direct evaluation of the same tree (leaves read
//! straight from the payload map, combinators as plain boolean logic).

use proptest::prelude::*;
use quiver_types::{
    Condition, FieldCondition, FieldPredicate, Filter, Match, MinShould, PointId, Range, ValueVariant,
};
use serde_json::{json, Value};

use super::check;
use super::tests::{key, TestPoint};

const KEYS: [&str; 3] = ["k0", "k1", "k2"];

#[derive(Debug, Clone)]
enum Leaf {
    /// The value at the key (or an element of it) is this integer.
    IntEq(usize, i64),
    /// A number at the key (or an element of it) is below the bound.
    Below(usize, f64),
    /// The value at the key (or an element of it) is one of these keywords.
    KeywordIn(usize, Vec<String>),
    /// The key is missing, null or an empty array.
    Empty(usize),
    IdIn(Vec<u64>),
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(Leaf),
    Bool {
        must: Vec<Node>,
        should: Vec<Node>,
        must_not: Vec<Node>,
        min_should: Option<(Vec<Node>, usize)>,
    },
}

fn leaf() -> impl Strategy<Value = Leaf> {
    let k = 0..KEYS.len();
    prop_oneof![
        (k.clone(), -2i64..3).prop_map(|(k, v)| Leaf::IntEq(k, v)),
        (k.clone(), -2i64..3).prop_map(|(k, b)| Leaf::Below(k, b as f64 + 0.5)),
        (k.clone(), prop::collection::vec("[ab]", 0..3)).prop_map(|(k, l)| Leaf::KeywordIn(k, l)),
        k.prop_map(Leaf::Empty),
        prop::collection::vec(0u64..4, 0..3).prop_map(Leaf::IdIn),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    leaf().prop_map(Node::Leaf).prop_recursive(3, 40, 4, |inner| {
        let nodes = prop::collection::vec(inner.clone(), 0..4);
        let min = prop::option::of((prop::collection::vec(inner, 0..4), 0usize..4));
        (nodes.clone(), nodes.clone(), nodes, min).prop_map(|(must, should, must_not, min_should)| {
            Node::Bool {
                must,
                should,
                must_not,
                min_should,
            }
        })
    })
}

fn json_value() -> impl Strategy<Value = Option<Value>> {
    let scalar = prop_oneof![
        (-2i64..3).prop_map(|i| json!(i)),
        (-2i64..3).prop_map(|i| json!(i as f64 + 0.25)),
        "[abc]".prop_map(|s| json!(s)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ];
    prop_oneof![
        Just(None),
        scalar.clone().prop_map(Some),
        prop::collection::vec(scalar, 0..3).prop_map(|v| Some(Value::Array(v))),
    ]
}

fn to_filter(node: &Node) -> Filter {
    match node {
        Node::Leaf(_) => Filter {
            must: vec![to_condition(node)],
            ..Filter::default()
        },
        Node::Bool {
            must,
            should,
            must_not,
            min_should,
        } => Filter {
            must: must.iter().map(to_condition).collect(),
            should: should.iter().map(to_condition).collect(),
            must_not: must_not.iter().map(to_condition).collect(),
            min_should: min_should.as_ref().map(|(c, n)| MinShould {
                conditions: c.iter().map(to_condition).collect(),
                min_count: *n,
            }),
        },
    }
}

fn to_condition(node: &Node) -> Condition {
    let field = |k: usize, p: FieldPredicate| {
        Condition::Field(FieldCondition {
            key: key(KEYS[k]),
            predicates: vec![p],
        })
    };
    match node {
        Node::Leaf(Leaf::IntEq(k, v)) => {
            field(*k, FieldPredicate::Match(Match::Value(ValueVariant::Integer(*v))))
        }
        Node::Leaf(Leaf::Below(k, b)) => field(
            *k,
            FieldPredicate::Range(Range {
                lt: Some(*b),
                ..Range::default()
            }),
        ),
        Node::Leaf(Leaf::KeywordIn(k, l)) => field(
            *k,
            FieldPredicate::Match(Match::Any(l.iter().cloned().map(ValueVariant::Keyword).collect())),
        ),
        Node::Leaf(Leaf::Empty(k)) => Condition::IsEmpty(key(KEYS[*k])),
        Node::Leaf(Leaf::IdIn(ids)) => Condition::HasId(ids.iter().map(|i| PointId::Num(*i)).collect()),
        Node::Bool { .. } => Condition::Filter(Box::new(to_filter(node))),
    }
}

/// The values a leaf looks at: the value itself, or the elements of an array.
fn elements(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => vec![],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

fn direct(node: &Node, p: &TestPoint) -> bool {
    let at = |k: &usize| p.payload.get(KEYS[*k]);
    match node {
        Node::Leaf(Leaf::IntEq(k, v)) => elements(at(k))
            .iter()
            .any(|x| x.is_i64() && x.as_i64() == Some(*v)),
        Node::Leaf(Leaf::Below(k, b)) => elements(at(k)).iter().any(|x| x.as_f64().is_some_and(|x| x < *b)),
        Node::Leaf(Leaf::KeywordIn(k, l)) => elements(at(k))
            .iter()
            .any(|x| x.as_str().is_some_and(|s| l.iter().any(|w| w == s))),
        Node::Leaf(Leaf::Empty(k)) => match at(k) {
            None | Some(Value::Null) => true,
            Some(Value::Array(items)) => items.is_empty(),
            Some(_) => false,
        },
        Node::Leaf(Leaf::IdIn(ids)) => ids.iter().any(|i| PointId::Num(*i) == p.id),
        Node::Bool {
            must,
            should,
            must_not,
            min_should,
        } => {
            let count = |nodes: &Vec<Node>| nodes.iter().filter(|n| direct(n, p)).count();
            count(must) == must.len()
                && count(must_not) == 0
                && (should.is_empty() || count(should) > 0)
                && min_should.as_ref().is_none_or(|(c, n)| count(c) >= *n)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_filters_agree_with_direct_evaluation(
        tree in node(),
        id in 0u64..4,
        values in prop::collection::vec(json_value(), KEYS.len()),
    ) {
        let mut payload = quiver_types::Payload::new();
        for (k, v) in KEYS.iter().zip(values) {
            if let Some(v) = v {
                payload.insert(k.to_string(), v);
            }
        }
        let p = TestPoint { id: PointId::Num(id), payload, vectors: vec![] };
        prop_assert_eq!(check(&to_filter(&tree), &p), direct(&tree, &p));
    }
}
