//! The linker: records that share tokens become one person, an ID0-style
//! union over time with guards against false merges.
//!
//! Tokens are taken in the plan's order of roles: identity (ID5) first,
//! then join tokens (the insured number, ID1, care and local numbers), then
//! bridges (ID4, its loose form, the kanji name). For each token value, the
//! groups of the records that carry it are merged, unless two of them
//! conflict; then the token is ambiguous and merges nothing:
//!
//! - **identity:** both groups hold identity tokens and none in common (two
//!   people with different oldest insured numbers);
//! - **one at a time:** in some month both groups hold a token of the same
//!   exclusive kind (insured number, ID1, care number) and none in common.
//!   A person holds one card at a time, so two cards in one month are two
//!   people: twins on one card, or two people with one name and birthday.
//!   This is the guard that keeps ID4 from bridging them.
//!
//! The input is plain data (record ids, interned tokens, months), so the
//! same code links a synthetic test set, the staging store or a benchmark.

use crate::plan::{Plan, Role};
use std::collections::HashMap;

/// A month as months since year 0 (`year * 12 + month - 1`).
pub type Month = u32;

/// One record's linkage input.
#[derive(Debug, Clone, Default)]
pub struct LinkRecord {
    /// The month the record is about (a claim's month, a stay's
    /// admission), if it has one. Eligibility rows have none.
    pub month: Option<Month>,
    /// Its tokens: (index of the kind in the plan, interned token id).
    /// Tokens of one hash domain share ids across kinds.
    pub tokens: Vec<(u8, u32)>,
}

/// What the linker may use: the plan's kinds, by index, with their role and
/// whether a person holds one value at a time.
#[derive(Debug, Clone)]
pub struct KindRule {
    /// Token name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Used in this run (strategies use subsets of the plan).
    pub used: bool,
    /// A person holds one value of it in a month.
    pub one_at_a_time: bool,
}

/// The rules of a linkage run: every kind of the plan, some used.
pub fn rules(plan: &Plan, used: &[&str]) -> Vec<KindRule> {
    plan.tokens
        .iter()
        .map(|t| KindRule {
            name: t.name.clone(),
            role: t.role,
            used: used.is_empty() || used.contains(&t.name.as_str()),
            one_at_a_time: t.one_at_a_time,
        })
        .collect()
}

/// Counts of what the linker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Merges done, per kind name.
    pub merges: Vec<(String, u64)>,
    /// Token values that met conflicting groups and merged nothing, per kind.
    pub refused: Vec<(String, u64)>,
    /// Persons (groups) at the end.
    pub persons: u64,
}

/// A group's facts for the conflict checks.
#[derive(Default)]
struct Facts {
    identity: Vec<u32>,
    /// (kind, month) → token ids held.
    held: HashMap<(u8, Month), Vec<u32>>,
}

impl Facts {
    fn conflicts(&self, other: &Facts) -> bool {
        let disjoint = |a: &[u32], b: &[u32]| !a.iter().any(|x| b.contains(x));
        if !self.identity.is_empty()
            && !other.identity.is_empty()
            && disjoint(&self.identity, &other.identity)
        {
            return true;
        }
        let (small, large) = if self.held.len() <= other.held.len() {
            (&self.held, &other.held)
        } else {
            (&other.held, &self.held)
        };
        small
            .iter()
            .any(|(key, tokens)| large.get(key).is_some_and(|o| disjoint(tokens, o)))
    }

    fn absorb(&mut self, other: Facts) {
        for t in other.identity {
            if !self.identity.contains(&t) {
                self.identity.push(t);
            }
        }
        for (key, tokens) in other.held {
            let mine = self.held.entry(key).or_default();
            for t in tokens {
                if !mine.contains(&t) {
                    mine.push(t);
                }
            }
        }
    }
}

/// Union-find over records, with each root's facts.
struct Groups {
    parent: Vec<u32>,
    size: Vec<u32>,
    facts: Vec<Option<Facts>>,
}

impl Groups {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn facts(&self, root: u32) -> &Facts {
        self.facts[root as usize]
            .as_ref()
            .expect("roots keep their facts")
    }

    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        let moved = self.facts[small as usize].take().unwrap_or_default();
        if let Some(f) = self.facts[big as usize].as_mut() {
            f.absorb(moved);
        }
        big
    }
}

/// Links records: returns each record's group (the index of a
/// representative record) and what was done.
pub fn link(records: &[LinkRecord], rules: &[KindRule]) -> (Vec<u32>, LinkStats) {
    let n = records.len();
    let mut groups = Groups {
        parent: (0..n as u32).collect(),
        size: vec![1; n],
        facts: records.iter().map(|r| Some(facts_of(r, rules))).collect(),
    };
    let mut stats = LinkStats::default();
    for role in [Role::Identity, Role::Join, Role::Bridge] {
        for (k, rule) in rules.iter().enumerate() {
            if rule.role != role || !rule.used {
                continue;
            }
            let (merges, refused) = link_kind(records, k as u8, &mut groups);
            stats.merges.push((rule.name.clone(), merges));
            stats.refused.push((rule.name.clone(), refused));
        }
    }
    let roots: Vec<u32> = (0..n as u32).map(|r| groups.find(r)).collect();
    let mut distinct = roots.clone();
    distinct.sort_unstable();
    distinct.dedup();
    stats.persons = distinct.len() as u64;
    (roots, stats)
}

fn facts_of(record: &LinkRecord, rules: &[KindRule]) -> Facts {
    let mut facts = Facts::default();
    for &(k, t) in &record.tokens {
        let Some(rule) = rules.get(k as usize).filter(|r| r.used) else {
            continue;
        };
        if rule.role == Role::Identity && !facts.identity.contains(&t) {
            facts.identity.push(t);
        }
        if let (true, Some(m)) = (rule.one_at_a_time, record.month) {
            let held = facts.held.entry((k, m)).or_default();
            if !held.contains(&t) {
                held.push(t);
            }
        }
    }
    facts
}

/// Merges the groups sharing each value of kind `k`, unless they conflict.
fn link_kind(records: &[LinkRecord], k: u8, groups: &mut Groups) -> (u64, u64) {
    let mut by_token: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        for &(kind, t) in &r.tokens {
            if kind == k {
                by_token.entry(t).or_default().push(i as u32);
            }
        }
    }
    // A stable order, so that a run is repeatable.
    let mut tokens: Vec<(u32, Vec<u32>)> = by_token.into_iter().collect();
    tokens.sort_unstable_by_key(|(t, _)| *t);
    let (mut merges, mut refused) = (0, 0);
    for (_, members) in tokens {
        let mut roots: Vec<u32> = members.iter().map(|&r| groups.find(r)).collect();
        roots.sort_unstable();
        roots.dedup();
        if roots.len() < 2 {
            continue;
        }
        let conflict = roots.iter().enumerate().any(|(i, &a)| {
            roots[i + 1..]
                .iter()
                .any(|&b| groups.facts(a).conflicts(groups.facts(b)))
        });
        if conflict {
            refused += 1;
            continue;
        }
        let mut root = roots[0];
        for &other in &roots[1..] {
            root = groups.union(root, other);
            merges += 1;
        }
    }
    (merges, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    const PLAN: &str = r#"
[[token]]
name = "id5"
domain = "insured"
fields = ["oldest.insurer", "oldest.number", "oldest.branch"]
role = "identity"

[[token]]
name = "insured"
fields = ["insurer", "number", "branch"]
role = "join"
one_at_a_time = true

[[token]]
name = "id1"
fields = ["insurer", "number", "birth", "sex"]
role = "join"
one_at_a_time = true

[[token]]
name = "id4"
fields = ["kana_name", "birth", "sex"]
role = "bridge"
"#;
    const ID5: u8 = 0;
    const INSURED: u8 = 1;
    const ID1: u8 = 2;
    const ID4: u8 = 3;

    fn rec(month: Option<Month>, tokens: &[(u8, u32)]) -> LinkRecord {
        LinkRecord {
            month,
            tokens: tokens.to_vec(),
        }
    }

    fn run(records: &[LinkRecord]) -> (Vec<u32>, LinkStats) {
        let plan = Plan::parse(PLAN, "test").unwrap();
        link(records, &rules(&plan, &[]))
    }

    fn same(groups: &[u32], a: usize, b: usize) -> bool {
        groups[a] == groups[b]
    }

    #[test]
    fn a_job_change_is_bridged_by_id4() {
        // Card A until month 5, card B from month 6; one name throughout.
        let records = [
            rec(Some(5), &[(INSURED, 1), (ID1, 10), (ID4, 100)]),
            rec(Some(6), &[(INSURED, 2), (ID1, 20), (ID4, 100)]),
        ];
        let (g, stats) = run(&records);
        assert!(same(&g, 0, 1));
        assert_eq!(stats.persons, 1);
    }

    #[test]
    fn id4_does_not_bridge_two_cards_held_in_the_same_month() {
        // Two people with one name and birthday, each with a card, both
        // seen in month 5: one ID4 token, two insured numbers at once.
        let records = [
            rec(Some(5), &[(INSURED, 1), (ID4, 100)]),
            rec(Some(5), &[(INSURED, 2), (ID4, 100)]),
        ];
        let (g, stats) = run(&records);
        assert!(!same(&g, 0, 1));
        assert_eq!(stats.refused.iter().find(|(k, _)| k == "id4").unwrap().1, 1);
    }

    #[test]
    fn id5_keeps_twins_on_one_card_apart_and_id1_does_not_merge_them() {
        // Same-sex twins on one card share ID1 but not their branch, so not
        // their insured number or their oldest number (ID5). They visit in
        // different months, so only the identity guard can tell.
        let records = [
            rec(None, &[(ID5, 1), (INSURED, 1)]), // eligibility: twin A
            rec(None, &[(ID5, 2), (INSURED, 2)]), // eligibility: twin B
            rec(Some(3), &[(INSURED, 1), (ID1, 10), (ID4, 100)]),
            rec(Some(4), &[(INSURED, 2), (ID1, 10), (ID4, 200)]),
            // A claim of twin A without its branch: ID1 is ambiguous, ID4 is not.
            rec(Some(7), &[(ID1, 10), (ID4, 100)]),
        ];
        let (g, _) = run(&records);
        assert!(same(&g, 0, 2));
        assert!(same(&g, 1, 3));
        assert!(!same(&g, 0, 1));
        assert!(same(&g, 4, 2), "the branchless claim joins twin A by ID4");
    }

    #[test]
    fn the_eligibility_answer_links_old_and_new_numbers() {
        // The service answers both numbers with the oldest one.
        let records = [
            rec(None, &[(ID5, 1), (INSURED, 1)]),
            rec(None, &[(ID5, 1), (INSURED, 2)]),
            rec(Some(1), &[(INSURED, 1)]),
            rec(Some(30), &[(INSURED, 2)]),
        ];
        let (g, stats) = run(&records);
        assert!(same(&g, 2, 3));
        assert_eq!(stats.persons, 1);
    }

    #[test]
    fn unused_kinds_link_nothing() {
        let plan = Plan::parse(PLAN, "test").unwrap();
        let records = [rec(Some(1), &[(ID4, 1)]), rec(Some(2), &[(ID4, 1)])];
        let (g, _) = link(&records, &rules(&plan, &["id1"]));
        assert!(!same(&g, 0, 1));
        let (g, _) = link(&records, &rules(&plan, &["id4"]));
        assert!(same(&g, 0, 1));
    }
}
