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
//! The input is plain data (interned tokens and months in flat arrays), so
//! the same code links a synthetic test set, the staging store or a
//! benchmark.

use crate::plan::{Plan, Role};

/// A month as months since year 0 (`year * 12 + month - 1`).
pub type Month = u32;

/// Every record's linkage input, in flat arrays: at 10 million records a
/// vector per record would cost more than the tokens themselves.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// Each record's month (a claim's month, a stay's admission), if it
    /// has one. Eligibility rows have none.
    months: Vec<Option<Month>>,
    /// Record `i`'s tokens are `kinds[offsets[i]..offsets[i + 1]]` and the
    /// same range of `tokens`.
    offsets: Vec<usize>,
    /// Index of each token's kind in the plan.
    kinds: Vec<u8>,
    /// Interned token ids; tokens of one hash domain share ids across kinds.
    tokens: Vec<u32>,
}

impl Records {
    /// No records.
    pub fn new() -> Self {
        Records {
            offsets: vec![0],
            ..Records::default()
        }
    }

    /// Adds a record with its month and its (kind, token) pairs.
    pub fn push(&mut self, month: Option<Month>, tokens: &[(u8, u32)]) {
        self.months.push(month);
        for &(k, t) in tokens {
            self.kinds.push(k);
            self.tokens.push(t);
        }
        self.offsets.push(self.kinds.len());
    }

    /// Adds one token to the last record.
    pub fn push_token(&mut self, kind: u8, token: u32) {
        self.kinds.push(kind);
        self.tokens.push(token);
        if let Some(last) = self.offsets.last_mut() {
            *last = self.kinds.len();
        }
    }

    /// Starts a record with no tokens yet.
    pub fn start(&mut self, month: Option<Month>) {
        self.months.push(month);
        self.offsets.push(self.kinds.len());
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.months.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.months.is_empty()
    }

    /// Record `i`'s month.
    pub fn month(&self, i: usize) -> Option<Month> {
        self.months[i]
    }

    /// Record `i`'s (kind, token) pairs.
    pub fn tokens(&self, i: usize) -> impl Iterator<Item = (u8, u32)> + '_ {
        let range = self.offsets[i]..self.offsets[i + 1];
        self.kinds[range.clone()]
            .iter()
            .copied()
            .zip(self.tokens[range].iter().copied())
    }
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

/// The rules of a linkage run: every kind of the plan, those in `used`
/// used (all when `used` is empty).
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

/// A group's facts for the conflict checks: its identity tokens, and the
/// one-at-a-time tokens it holds, as sorted (kind, month, token).
#[derive(Default, Debug, Clone)]
struct Facts {
    identity: Vec<u32>,
    held: Vec<(u8, Month, u32)>,
}

impl Facts {
    fn of(records: &Records, i: usize, rules: &[KindRule]) -> Facts {
        let mut facts = Facts::default();
        for (k, t) in records.tokens(i) {
            let Some(rule) = rules.get(k as usize).filter(|r| r.used) else {
                continue;
            };
            if rule.role == Role::Identity {
                facts.identity.push(t);
            }
            if let (true, Some(m)) = (rule.one_at_a_time, records.month(i)) {
                facts.held.push((k, m, t));
            }
        }
        facts.identity.sort_unstable();
        facts.identity.dedup();
        facts.held.sort_unstable();
        facts.held.dedup();
        facts
    }

    fn conflicts(&self, other: &Facts) -> bool {
        if !self.identity.is_empty()
            && !other.identity.is_empty()
            && !shares(&self.identity, &other.identity)
        {
            return true;
        }
        // Walk both sorted lists a (kind, month) at a time.
        let (a, b) = (&self.held, &other.held);
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let (ka, kb) = ((a[i].0, a[i].1), (b[j].0, b[j].1));
            if ka < kb {
                i += 1;
            } else if kb < ka {
                j += 1;
            } else {
                let ie = i + a[i..].iter().take_while(|x| (x.0, x.1) == ka).count();
                let je = j + b[j..].iter().take_while(|x| (x.0, x.1) == kb).count();
                let ta: Vec<u32> = a[i..ie].iter().map(|x| x.2).collect();
                let tb: Vec<u32> = b[j..je].iter().map(|x| x.2).collect();
                if !shares(&ta, &tb) {
                    return true;
                }
                (i, j) = (ie, je);
            }
        }
        false
    }

    /// Joins the facts of several groups: one sort of everything, not one
    /// per union (a person with hundreds of records is merged in one run).
    fn join(all: Vec<Facts>) -> Facts {
        let mut joined = Facts::default();
        for f in all {
            joined.identity.extend(f.identity);
            joined.held.extend(f.held);
        }
        joined.identity.sort_unstable();
        joined.identity.dedup();
        joined.held.sort_unstable();
        joined.held.dedup();
        joined
    }
}

/// Whether two sorted lists share a value.
fn shares(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Union-find over records. A group of one record has no stored facts
/// (they are read off the record when needed); merged groups keep theirs,
/// so memory grows with persons, not records.
struct Groups<'r> {
    parent: Vec<u32>,
    size: Vec<u32>,
    /// A merged group's facts, at its root.
    facts: Vec<Option<Box<Facts>>>,
    records: &'r Records,
    rules: &'r [KindRule],
}

impl Groups<'_> {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn facts(&self, root: u32) -> std::borrow::Cow<'_, Facts> {
        match &self.facts[root as usize] {
            Some(f) => std::borrow::Cow::Borrowed(f),
            None => std::borrow::Cow::Owned(Facts::of(self.records, root as usize, self.rules)),
        }
    }

    fn take_facts(&mut self, root: u32) -> Facts {
        match self.facts[root as usize].take() {
            Some(f) => *f,
            None => Facts::of(self.records, root as usize, self.rules),
        }
    }

    /// Merges the groups of `roots` (distinct roots) into one.
    fn union(&mut self, roots: &[u32]) {
        let Some(&big) = roots.iter().max_by_key(|&&r| self.size[r as usize]) else {
            return;
        };
        let all: Vec<Facts> = roots.iter().map(|&r| self.take_facts(r)).collect();
        for &r in roots.iter().filter(|&&r| r != big) {
            self.parent[r as usize] = big;
            self.size[big as usize] += self.size[r as usize];
        }
        self.facts[big as usize] = Some(Box::new(Facts::join(all)));
    }
}

/// Links records: returns each record's group (the index of a
/// representative record) and what was done.
pub fn link(records: &Records, rules: &[KindRule]) -> (Vec<u32>, LinkStats) {
    let n = records.len();
    let mut groups = Groups {
        parent: (0..n as u32).collect(),
        size: vec![1; n],
        facts: (0..n).map(|_| None).collect(),
        records,
        rules,
    };
    // Each used kind's (token, record) pairs, packed in a u64 so that one
    // integer sort orders them by token: each run of a token is one value.
    let mut pairs: Vec<Vec<u64>> = vec![Vec::new(); rules.len()];
    for i in 0..n {
        for (kind, t) in records.tokens(i) {
            if rules.get(kind as usize).is_some_and(|r| r.used) {
                pairs[kind as usize].push(u64::from(t) << 32 | i as u64);
            }
        }
    }
    let mut stats = LinkStats::default();
    for role in [Role::Identity, Role::Join, Role::Bridge] {
        for (k, rule) in rules.iter().enumerate() {
            if rule.role != role || !rule.used {
                continue;
            }
            let mut kind = std::mem::take(&mut pairs[k]);
            kind.sort_unstable();
            let (merges, refused) = link_kind(&kind, &mut groups);
            stats.merges.push((rule.name.clone(), merges));
            stats.refused.push((rule.name.clone(), refused));
        }
    }
    let roots: Vec<u32> = (0..n as u32).map(|r| groups.find(r)).collect();
    stats.persons = roots
        .iter()
        .enumerate()
        .filter(|&(i, &r)| r as usize == i)
        .count() as u64;
    (roots, stats)
}

/// Merges the groups sharing each value of one kind, unless they
/// conflict. `pairs` are sorted (token << 32 | record).
fn link_kind(pairs: &[u64], groups: &mut Groups) -> (u64, u64) {
    let (mut merges, mut refused) = (0, 0);
    let mut roots: Vec<u32> = Vec::new();
    for run in pairs.chunk_by(|a, b| a >> 32 == b >> 32) {
        roots.clear();
        roots.extend(run.iter().map(|&p| groups.find(p as u32)));
        roots.sort_unstable();
        roots.dedup();
        if roots.len() < 2 {
            continue;
        }
        // Merged groups' facts are borrowed; a single record's are read
        // off it.
        let conflict = {
            let g = &*groups;
            let facts: Vec<_> = roots.iter().map(|&r| g.facts(r)).collect();
            facts
                .iter()
                .enumerate()
                .any(|(i, a)| facts[i + 1..].iter().any(|b| a.conflicts(b)))
        };
        if conflict {
            refused += 1;
            continue;
        }
        groups.union(&roots);
        merges += roots.len() as u64 - 1;
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

    /// A record as the tests write it: its month and (kind, token) pairs.
    type Rec = (Option<Month>, Vec<(u8, u32)>);

    fn rec(month: Option<Month>, tokens: &[(u8, u32)]) -> Rec {
        (month, tokens.to_vec())
    }

    fn records(list: &[Rec]) -> Records {
        let mut r = Records::new();
        for (month, tokens) in list {
            r.push(*month, tokens);
        }
        r
    }

    fn run(list: &[Rec]) -> (Vec<u32>, LinkStats) {
        let plan = Plan::parse(PLAN, "test").unwrap();
        link(&records(list), &rules(&plan, &[]))
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
        let records = records(&[rec(Some(1), &[(ID4, 1)]), rec(Some(2), &[(ID4, 1)])]);
        let (g, _) = link(&records, &rules(&plan, &["id1"]));
        assert!(!same(&g, 0, 1));
        let (g, _) = link(&records, &rules(&plan, &["id4"]));
        assert!(same(&g, 0, 1));
    }
}
