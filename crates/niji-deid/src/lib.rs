/*!
De-identification for niji's releases: the generalization hierarchies of
quasi-identifiers, the privacy models a release must meet (k-anonymity,
l-diversity, t-closeness, with a suppression limit), and the optimal search
over the lattice of generalization levels.

```
use niji_deid::hierarchy::Hierarchy;
use niji_deid::model::Model;
use niji_deid::search::{Quasi, Search, Table};

// Ages 30..=39 of ten people, generalized to 5-year bands, then to *.
let ages = Hierarchy::intervals(30, 39, &[5], None).unwrap();
let codes = (30..40).map(|a| ages.code(&a.to_string()).unwrap()).collect();
let table = Table {
    quasi: vec![Quasi { name: "age".into(), hierarchy: ages, codes }],
    sensitive: None,
};
let solution = Search::new(&table, Model::k_anonymity(5)).unwrap().run().unwrap();
assert_eq!(solution.node, [1]); // 30-34 and 35-39, five people each
```

# Architecture invariants

- Plain data in, plain data out: no I/O beyond reading a hierarchy file,
  no knowledge of DuckDB, HTTP or the release format.
- The search is exact for its information-loss measure: pruning uses only
  properties that hold (monotone criteria, a lower bound of the loss), and
  a test compares it with evaluating every node.
*/
#![deny(missing_docs)]

pub mod build;
pub mod hierarchy;
pub mod load;
pub mod model;
pub mod policy;
pub mod risk;
pub mod search;
