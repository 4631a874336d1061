//! The plan: from a checked [`Request`], the SQL the engine runs. The
//! platform writes all of it — keys, outputs and measures, and for every
//! measure the figures that settle its persons: the rows of its person set
//! (cheap), the person buckets of it, or its distinct persons, counted
//! from the release's own `pseudonym` of the first relation, whatever the
//! query called things.
//!
//! A measure's person set is the persons of the rows that contribute to
//! it: its FILTER holds, and its column is not NULL — and, for `sum` and
//! `avg`, not zero (a zero adds nothing, so a sum over one non-zero person
//! is that person's value). Casts are TRY_CAST and arithmetic runs in
//! DOUBLE, so that no value of one person can make a request fail.

use crate::check::PSEUDONYM;
use crate::language::{
    Aggregate, Arith, CastTo, Cmp, Column, Func, Join, Literal, Measure, MeasureExpr, OutputKind,
    Request, Scalar, Source, Ty,
};
use roaring::RoaringBitmap;

/// How the persons of every number were settled: the cheapest way that
/// settled all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// From each number's rows and the most rows one person has in the
    /// relations read (`niji_core::person_rows`).
    Rows,
    /// From each number's person buckets (`niji_core::bucket`), and its
    /// rows where the most rows are known.
    Buckets,
    /// Distinct pseudonyms, counted.
    Exact,
    /// Each number's persons, exact, from lists of the release's person
    /// index (`niji_core::person_index`) per row, and kept for
    /// differencing as bitmaps.
    Sets,
}

impl Counting {
    /// Whether the pass keeps each number's persons.
    pub fn keeps_sets(self) -> bool {
        self == Counting::Sets
    }
}

/// What the release offers to settle persons cheaply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aids {
    /// The most rows one person has in the request's joined rows (the
    /// product over its tables), when every table records it.
    pub most_rows: Option<u64>,
    /// The hidden twin of the first relation's view, with the bucket.
    pub twin: Option<String>,
    /// The person index of the first relation's release.
    pub index: Option<PersonIndex>,
}

/// A release's person index as the first relation offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonIndex {
    /// The hidden twin of the first relation's view (of the view inside a
    /// person-level relation), with the index.
    pub twin: String,
    /// The release.
    pub release: String,
    /// Its number of persons: the index runs from 0 to one less.
    pub persons: u64,
}

/// Each measure's decisive persons as the request defines them, for
/// differencing to know two numbers equal by definition.
pub struct Definitions(Vec<String>);

impl Definitions {
    /// SHA-256 of what defines measure `m`'s decisive persons in `row`:
    /// the request's part and the row's key values and grouping. On one
    /// release, equal definitions are equal sets.
    pub fn digest(&self, m: usize, row: &crate::disclosure::Computed) -> [u8; 32] {
        let text = format!("{}\u{0}{:?}\u{0}{}", self.0[m], row.keys, row.grouping);
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }
}

/// Where each figure sits in a pass's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Keys: columns `0..keys`.
    pub keys: usize,
    /// The outputs of measures, in output order: their columns follow the
    /// keys.
    pub measure_outputs: Vec<usize>,
    /// The measures' values follow.
    pub measures: usize,
    /// The person sets of all measures, in measure order (each measure
    /// has one or two, [`person_sets`]).
    pub sets: usize,
    /// Whether the row figures of rows, buckets and exact persons are
    /// there (each as one row figure, then one per measure).
    pub rows: bool,
    /// Bucket figures.
    pub buckets: bool,
    /// Exact person counts.
    pub exact: bool,
    /// The grouping id (ROLLUP) follows the figures.
    pub grouping: bool,
    /// Last, the person lists [`Plan::person_lists`] (the sets pass
    /// only).
    pub lists: usize,
}

impl Layout {
    fn first_figure(&self) -> usize {
        self.keys + self.measure_outputs.len() + self.measures
    }

    /// The columns of the figures of one kind: the row's, then each
    /// person set's. `which`: 0 rows, 1 buckets, 2 exact.
    pub fn figures(&self, which: usize) -> Option<std::ops::Range<usize>> {
        let present = [self.rows, self.buckets, self.exact];
        if !present[which] {
            return None;
        }
        let before = present[..which].iter().filter(|p| **p).count();
        let start = self.first_figure() + before * (self.sets + 1);
        Some(start..start + self.sets + 1)
    }

    /// The grouping id's column.
    pub fn grouping_column(&self) -> Option<usize> {
        self.grouping.then_some(self.after_figures())
    }

    fn after_figures(&self) -> usize {
        let present = [self.rows, self.buckets, self.exact];
        self.first_figure() + present.iter().filter(|p| **p).count() * (self.sets + 1)
    }

    /// The columns of the person lists.
    pub fn list_columns(&self) -> std::ops::Range<usize> {
        let start = self.after_figures() + usize::from(self.grouping);
        start..start + self.lists
    }
}

/// A request with the SQL of each way to count.
pub struct Plan<'r> {
    /// The request.
    pub request: &'r Request,
    /// The aids that apply.
    pub aids: Aids,
}

impl<'r> Plan<'r> {
    /// The passes to try, cheapest first: with a person index, the sets
    /// pass settles every number exactly (and keeps its persons); the
    /// exact pass only settles what it leaves (a sum's non-null persons
    /// when none is non-zero).
    pub fn passes(&self) -> Vec<Counting> {
        if self.aids.index.is_some() {
            return vec![Counting::Sets, Counting::Exact];
        }
        let mut passes = Vec::new();
        if self.aids.most_rows.is_some() {
            passes.push(Counting::Rows);
        }
        if self.aids.twin.is_some() {
            passes.push(Counting::Buckets);
        }
        passes.push(Counting::Exact);
        passes
    }

    /// The layout of a pass.
    pub fn layout(&self, counting: Counting) -> Layout {
        let r = self.request;
        Layout {
            keys: r.keys.len(),
            measure_outputs: r
                .outputs
                .iter()
                .enumerate()
                .filter(|(_, o)| matches!(o.kind, OutputKind::Measure(_)))
                .map(|(i, _)| i)
                .collect(),
            measures: r.measures.len(),
            sets: self.sets().len(),
            rows: (self.aids.most_rows.is_some() && counting != Counting::Exact)
                || counting.keeps_sets(),
            buckets: counting == Counting::Buckets,
            exact: counting == Counting::Exact,
            grouping: r.rollup,
            lists: if counting.keeps_sets() {
                self.person_lists().len()
            } else {
                0
            },
        }
    }

    /// The person sets the sets pass keeps, each condition once: the row's and every measure's decisive one (its last,
    /// [`person_sets`]: for sums and means, the non-zero persons); and for
    /// each figure (the row's, then each of [`Plan::sets`]) the set it
    /// is, if any.
    pub fn tracked(&self) -> (Vec<Option<String>>, Vec<Option<usize>>) {
        let sets = self.sets();
        let mut tracked: Vec<Option<String>> = vec![None];
        let mut of = vec![Some(0)];
        for (i, (m, set)) in sets.iter().enumerate() {
            let decisive = sets.get(i + 1).is_none_or(|(next, _)| next != m);
            if !decisive {
                of.push(None);
                continue;
            }
            let at = tracked.iter().position(|t| t == set).unwrap_or_else(|| {
                tracked.push(set.clone());
                tracked.len() - 1
            });
            of.push(Some(at));
        }
        (tracked, of)
    }

    /// The conditions of the sets pass's person lists: each list holds
    /// the person index of every row of a result row its condition keeps
    /// (None: every row). A list costs by the rows it holds, so every row
    /// goes to one of the first two: the rows that meet every tracked
    /// set's condition (usually nearly all: a column's non-NULL and
    /// non-zero rows), and the rest; then, for each tracked set beyond
    /// one, the rest that meet its condition. [`Plan::sets_of_lists`]
    /// makes the tracked sets of them.
    pub fn person_lists(&self) -> Vec<Option<String>> {
        let (tracked, _) = self.tracked();
        let conditions: Vec<&String> = tracked.iter().flatten().collect();
        if conditions.is_empty() {
            return vec![None];
        }
        let all = conditions
            .iter()
            .map(|c| format!("({c})"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let rest = format!("NOT coalesce({all}, false)");
        let mut lists = vec![Some(all), Some(rest.clone())];
        if conditions.len() > 1 {
            lists.extend(
                conditions
                    .iter()
                    .map(|c| Some(format!("coalesce({c}, false) AND {rest}"))),
            );
        }
        lists
    }

    /// The tracked sets ([`Plan::tracked`]) from the person lists of one
    /// result row ([`Plan::person_lists`]): the row's is the first two
    /// together; each other's the first and, beyond one, its own rest.
    pub fn sets_of_lists(&self, lists: &[RoaringBitmap]) -> Vec<RoaringBitmap> {
        let (tracked, _) = self.tracked();
        let Some((all, rest)) = lists.first().zip(lists.get(1)) else {
            return lists.first().cloned().into_iter().collect();
        };
        (0..tracked.len())
            .map(|j| match j {
                0 => all | rest,
                _ if tracked.len() == 2 => all.clone(),
                _ => lists
                    .get(1 + j)
                    .map_or_else(|| all.clone(), |own| all | own),
            })
            .collect()
    }

    /// Each measure's decisive person set: its place in
    /// [`Plan::tracked`]'s list.
    pub fn decisive(&self) -> Vec<usize> {
        let sets = self.sets();
        let (_, of) = self.tracked();
        (0..self.request.measures.len())
            .map(|m| {
                let last = sets
                    .iter()
                    .rposition(|(owner, _)| *owner == m)
                    .expect("every measure has a person set");
                of[last + 1].expect("a measure's last set is tracked")
            })
            .collect()
    }

    /// Every person set, with the measure it belongs to.
    pub fn sets(&self) -> Vec<(usize, Option<String>)> {
        self.request
            .measures
            .iter()
            .enumerate()
            .flat_map(|(i, m)| person_sets(m).into_iter().map(move |p| (i, p)))
            .collect()
    }

    fn person(&self) -> String {
        column_ref(&self.request.relations[0].alias, PSEUDONYM)
    }

    /// The SQL of a pass.
    pub fn sql(&self, counting: Counting) -> String {
        let r = self.request;
        let layout = self.layout(counting);
        let person = self.person();
        let sets = self.sets();
        let mut select: Vec<String> = Vec::new();
        for (i, k) in r.keys.iter().enumerate() {
            select.push(format!("{} AS {}", key(k), ident(&format!("__niji_k{i}"))));
        }
        for &o in &layout.measure_outputs {
            if let OutputKind::Measure(e) = &r.outputs[o].kind {
                select.push(format!(
                    "{} AS {}",
                    measure_expr(e, &r.measures, &person),
                    ident(&format!("__niji_o{o}"))
                ));
            }
        }
        for (i, m) in r.measures.iter().enumerate() {
            select.push(format!(
                "{} AS {}",
                measure(m, &person),
                ident(&format!("__niji_m{i}"))
            ));
        }
        let bucket = column_ref(&r.relations[0].alias, niji_core::bucket::COLUMN);
        let figure = |kind: &str, pred: Option<String>| -> String {
            let filter = pred.map_or(String::new(), |p| format!(" FILTER (WHERE {p})"));
            match kind {
                "rows" => format!("count(*){filter}"),
                "buckets" => format!("coalesce(bit_count(bit_or({bucket}){filter}), 0)"),
                _ => format!("count(DISTINCT hash({person})){filter}"),
            }
        };
        // The sets pass needs rows only of the sets it keeps no bitmap of
        // (a sum's non-null persons); the others' stay NULL, unread.
        let bitmapped = if counting.keeps_sets() {
            self.tracked().1
        } else {
            vec![None; sets.len() + 1]
        };
        for (kind, present) in [
            ("rows", layout.rows),
            ("buckets", layout.buckets),
            ("exact", layout.exact),
        ] {
            if !present {
                continue;
            }
            let figures = std::iter::once(None).chain(sets.iter().map(|(_, set)| set.clone()));
            for (i, set) in figures.enumerate() {
                let value = if bitmapped[i].is_some() {
                    "CAST(NULL AS BIGINT)".to_owned()
                } else {
                    figure(kind, set)
                };
                let name = match i {
                    0 => format!("__niji_{kind}"),
                    _ => format!("__niji_{kind}{}", i - 1),
                };
                select.push(format!("{value} AS {}", ident(&name)));
            }
        }
        if layout.grouping {
            select.push(format!("{} AS \"__niji_g\"", self.grouping()));
        }
        let index = self.aids.index.as_ref().filter(|_| counting.keeps_sets());
        if index.is_some() {
            // Plain lists, not DISTINCT ones nor bitmaps: DuckDB's
            // DISTINCT hashes every row, and a bitmap takes a bit of every
            // person per result row (on ten million claims of a million
            // persons in 960 result rows, one thread: plain group-by 214
            // ms, with a bitmap 686, with a list 340); the engine removes
            // the repeats.
            let at = column_ref(&r.relations[0].alias, niji_core::person_index::COLUMN);
            for (j, list) in self.person_lists().iter().enumerate() {
                let filter = list
                    .as_ref()
                    .map_or(String::new(), |p| format!(" FILTER (WHERE {p})"));
                select.push(format!("list({at}){filter} AS \"__niji_persons{j}\""));
            }
        }
        let first = match (counting, index) {
            (Counting::Buckets, _) => First {
                twin: self.aids.twin.as_deref(),
                index: false,
            },
            (_, Some(index)) => First {
                twin: Some(&index.twin),
                index: true,
            },
            _ => First::default(),
        };
        format!(
            "SELECT {} FROM {}{}{}",
            select.join(", "),
            relations(r, first),
            where_clause(r),
            self.group_by(None)
        )
    }

    /// Measure `m`'s family for differencing
    /// ([`crate::differencing`]): all counts one, sums and means of a
    /// column one, order statistics of a column one.
    pub fn family(&self, m: usize) -> String {
        let measure = &self.request.measures[m];
        let column = |c: &Column| {
            let relation = self
                .request
                .relations
                .iter()
                .find(|r| r.alias == c.relation);
            let view = match relation.map(|r| &r.source) {
                Some(Source::Table { view }) => view.clone(),
                Some(Source::Persons { view, .. }) => format!("{view} (per person)"),
                None => c.relation.clone(),
            };
            format!("{view}.{}", c.name)
        };
        match (&measure.aggregate, &measure.arg) {
            (Aggregate::Rows | Aggregate::Count | Aggregate::Persons, _) => "count".into(),
            (Aggregate::Sum | Aggregate::Mean, Some(c)) => format!("sum of {}", column(c)),
            (_, Some(c)) => format!("order of {}", column(c)),
            (_, None) => "count".into(),
        }
    }

    /// What defines each measure's decisive persons in any row: the
    /// relations, cohort and keys, and the set's condition
    /// ([`Definitions::digest`] adds a row's).
    pub fn definitions(&self) -> Definitions {
        let r = self.request;
        let (tracked, _) = self.tracked();
        let query = format!(
            "{}{}{}",
            relations(r, First::default()),
            where_clause(r),
            self.group_by(None)
        );
        Definitions(
            self.decisive()
                .iter()
                .map(|&j| format!("{query}\u{0}{:?}", tracked[j]))
                .collect(),
        )
    }

    fn grouping(&self) -> String {
        let keys: Vec<String> = self.request.keys.iter().map(key).collect();
        format!("GROUPING({})", keys.join(", "))
    }

    fn group_by(&self, extra: Option<&str>) -> String {
        let r = self.request;
        let keys: Vec<String> = r.keys.iter().map(key).collect();
        let mut parts = Vec::new();
        if !keys.is_empty() {
            parts.push(if r.rollup {
                format!("ROLLUP ({})", keys.join(", "))
            } else {
                keys.join(", ")
            });
        }
        if let Some(e) = extra {
            parts.push(e.to_owned());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", parts.join(", "))
        }
    }

    /// The measures whose persons' contributions the concentration rules
    /// (dominance, p%) judge: every additive one.
    pub fn additive(&self) -> Vec<usize> {
        self.request
            .measures
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                matches!(
                    m.aggregate,
                    Aggregate::Rows | Aggregate::Count | Aggregate::Sum | Aggregate::Mean
                )
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The SQL of the contributions: per output row (its keys, then its
    /// grouping id with ROLLUP), for each measure of `measures`, the
    /// largest and second largest contribution of one person and the
    /// total, by absolute value.
    pub fn contributions(&self, measures: &[usize]) -> String {
        let r = self.request;
        let person = self.person();
        let mut inner: Vec<String> = r
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{} AS \"__niji_k{i}\"", key(k)))
            .collect();
        if r.rollup {
            inner.push(format!("{} AS \"__niji_g\"", self.grouping()));
        }
        let mut outer: Vec<String> = (0..r.keys.len())
            .map(|i| format!("\"__niji_k{i}\""))
            .collect();
        if r.rollup {
            outer.push("\"__niji_g\"".into());
        }
        let group: Vec<String> = outer.clone();
        let partition = if group.is_empty() {
            String::new()
        } else {
            format!("PARTITION BY {}", group.join(", "))
        };
        let mut tops = Vec::new();
        for &m in measures {
            let measure = &r.measures[m];
            inner.push(format!(
                "abs(TRY_CAST({} AS DOUBLE)) AS \"__niji_c{m}\"",
                contribution(measure)
            ));
            let (c, top) = (format!("\"__niji_c{m}\""), format!("\"__niji_t{m}\""));
            tops.push(format!("max({c}) OVER ({partition}) AS {top}"));
            outer.push(format!("coalesce(max({c}), 0)"));
            // The second largest: the largest again when two persons share
            // it, else the largest below it (NULLs are no contribution).
            // Plain aggregates over a window's largest, which every engine
            // runs alike (no ordered aggregate, no list).
            outer.push(format!(
                "coalesce(CASE WHEN count(*) FILTER (WHERE {c} = {top}) >= 2 THEN max({top}) \
                 ELSE max({c}) FILTER (WHERE {c} < {top}) END, 0)"
            ));
            outer.push(format!("coalesce(sum({c}), 0)"));
        }
        let grouped = if group.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", group.join(", "))
        };
        format!(
            "SELECT {} FROM (SELECT *, {} FROM (SELECT {} FROM {}{}{})){grouped}",
            outer.join(", "),
            tops.join(", "),
            inner.join(", "),
            relations(r, First::default()),
            where_clause(r),
            self.group_by(Some(&person)),
        )
    }
}

fn where_clause(r: &Request) -> String {
    match &r.cohort {
        Some(c) => format!(" WHERE {}", scalar(c)),
        None => String::new(),
    }
}

/// How the first relation is read: through a hidden twin of its view
/// (for a person-level relation, of the view inside), and whether a
/// person-level relation carries the person index out.
#[derive(Default, Clone, Copy)]
struct First<'a> {
    twin: Option<&'a str>,
    index: bool,
}

/// The FROM clause: each relation under its platform alias, joined on the
/// person key; the first read as `first` says.
fn relations(r: &Request, first: First) -> String {
    let mut out = String::new();
    for (i, rel) in r.relations.iter().enumerate() {
        let twin = if i == 0 { first.twin } else { None };
        let source = match &rel.source {
            Source::Table { view } => ident(twin.unwrap_or(view)),
            Source::Persons {
                view,
                alias,
                filter,
                variables,
            } => {
                let person = column_ref(alias, PSEUDONYM);
                let mut items = vec![person.clone()];
                for (name, m) in variables {
                    items.push(format!("{} AS {}", measure(m, &person), ident(name)));
                }
                let view = twin.unwrap_or(view);
                if i == 0 && first.index {
                    // One person per row: the index is the person's (the
                    // same on each of their rows; min, which every engine
                    // has, picks it).
                    let index = niji_core::person_index::COLUMN;
                    items.push(format!(
                        "min({}) AS {}",
                        column_ref(alias, index),
                        ident(index)
                    ));
                }
                let filter = filter
                    .as_ref()
                    .map_or(String::new(), |f| format!(" WHERE {}", scalar(f)));
                format!(
                    "(SELECT {} FROM {} AS {}{filter} GROUP BY {person})",
                    items.join(", "),
                    ident(view),
                    ident(alias)
                )
            }
        };
        match rel.join {
            Join::Base => out.push_str(&format!("{source} AS {}", ident(&rel.alias))),
            Join::Inner | Join::Left => {
                let kind = if rel.join == Join::Inner {
                    "JOIN"
                } else {
                    "LEFT JOIN"
                };
                out.push_str(&format!(
                    " {kind} {source} AS {} ON {} = {}",
                    ident(&rel.alias),
                    column_ref(&rel.alias, PSEUDONYM),
                    column_ref(&r.relations[0].alias, PSEUDONYM),
                ));
            }
        }
    }
    out
}

/// A quoted identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_ref(relation: &str, name: &str) -> String {
    format!("{}.{}", ident(relation), ident(name))
}

fn column(c: &Column) -> String {
    column_ref(&c.relation, &c.name)
}

pub(crate) fn text_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn sql_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Num => "DOUBLE",
        Ty::Text => "VARCHAR",
        Ty::Date => "DATE",
        Ty::Bool => "BOOLEAN",
        Ty::Null => "VARCHAR",
    }
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Num(n) => n.clone(),
        Literal::Text(s) => text_literal(s),
        Literal::Date(d) => format!("TRY_CAST({} AS DATE)", text_literal(d)),
        Literal::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Literal::Null => "NULL".into(),
    }
}

/// A literal as a value of type `ty`: text as written, others by TRY_CAST.
fn literal_as(l: &Literal, ty: Ty) -> String {
    match (l, ty) {
        (Literal::Null, _) => "NULL".into(),
        (Literal::Num(n), Ty::Text) => text_literal(n),
        (Literal::Num(_), Ty::Num)
        | (Literal::Text(_), Ty::Text)
        | (Literal::Date(_), Ty::Date)
        | (Literal::Bool(_), Ty::Bool) => literal(l),
        (Literal::Text(s) | Literal::Date(s), _) => {
            format!("TRY_CAST({} AS {})", text_literal(s), sql_type(ty))
        }
        (other, _) => format!("TRY_CAST({} AS {})", literal(other), sql_type(ty)),
    }
}

/// A value as type `ty`, converted by TRY_CAST where it is another.
fn scalar_as(s: &Scalar, ty: Ty) -> String {
    match s {
        Scalar::Literal(l) => literal_as(l, ty),
        _ if s.ty() == ty || s.ty() == Ty::Null || ty == Ty::Null => scalar(s),
        _ => format!("TRY_CAST({} AS {})", scalar(s), sql_type(ty)),
    }
}

/// A number as DOUBLE, so that arithmetic overflows to infinity rather
/// than failing.
fn double(s: &Scalar) -> String {
    match s {
        Scalar::Literal(Literal::Num(n)) => format!("CAST({n} AS DOUBLE)"),
        _ => format!("TRY_CAST({} AS DOUBLE)", scalar(s)),
    }
}

/// The type two compared values meet at: a column's over a literal's,
/// text when two values differ.
fn common(a: &Scalar, b: &Scalar) -> Ty {
    match (a.ty(), b.ty()) {
        (x, y) if x == y => x,
        (Ty::Null, y) => y,
        (x, Ty::Null) => x,
        (x, _) if b.is_literal() => x,
        (_, y) if a.is_literal() => y,
        _ => Ty::Text,
    }
}

fn cmp(c: Cmp) -> &'static str {
    match c {
        Cmp::Eq => "=",
        Cmp::Ne => "<>",
        Cmp::Lt => "<",
        Cmp::Le => "<=",
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
    }
}

fn arith(a: Arith) -> &'static str {
    match a {
        Arith::Add => "+",
        Arith::Sub => "-",
        Arith::Mul => "*",
        Arith::Div => "/",
    }
}

/// A row expression as SQL that no value can make fail.
pub(crate) fn scalar(s: &Scalar) -> String {
    match s {
        Scalar::Column(c) => column(c),
        Scalar::Literal(l) => literal(l),
        Scalar::Compare(a, c, b) => {
            let ty = common(a, b);
            format!("({} {} {})", scalar_as(a, ty), cmp(*c), scalar_as(b, ty))
        }
        Scalar::And(a, b) => format!("({} AND {})", scalar(a), scalar(b)),
        Scalar::Or(a, b) => format!("({} OR {})", scalar(a), scalar(b)),
        Scalar::Not(a) => format!("(NOT {})", scalar(a)),
        Scalar::IsNull(a, negated) => format!(
            "({} IS {}NULL)",
            scalar(a),
            if *negated { "NOT " } else { "" }
        ),
        Scalar::InList(a, list, negated) => {
            let ty = a.ty();
            let items: Vec<String> = list.iter().map(|l| literal_as(l, ty)).collect();
            format!(
                "({} {}IN ({}))",
                scalar(a),
                if *negated { "NOT " } else { "" },
                items.join(", ")
            )
        }
        Scalar::Between(a, lo, hi, negated) => {
            let ty = common(a, lo);
            format!(
                "({} {}BETWEEN {} AND {})",
                scalar_as(a, ty),
                if *negated { "NOT " } else { "" },
                scalar_as(lo, ty),
                scalar_as(hi, ty)
            )
        }
        Scalar::Like(a, pattern, negated, insensitive) => format!(
            "({} {}{} {})",
            scalar_as(a, Ty::Text),
            if *negated { "NOT " } else { "" },
            if *insensitive { "ILIKE" } else { "LIKE" },
            text_literal(pattern)
        ),
        Scalar::Arith(a, op, b) => format!("({} {} {})", double(a), arith(*op), double(b)),
        Scalar::Negate(a) => format!("(- {})", double(a)),
        Scalar::Cast(a, to) => {
            let target = match to {
                CastTo::Integer => "BIGINT",
                CastTo::Double => "DOUBLE",
                CastTo::Text => "VARCHAR",
                CastTo::Date => "DATE",
                CastTo::Bool => "BOOLEAN",
            };
            if *to == CastTo::Integer {
                // Through DOUBLE: a value out of BIGINT's range is NULL.
                format!("TRY_CAST({} AS BIGINT)", double(a))
            } else {
                format!("TRY_CAST({} AS {target})", scalar(a))
            }
        }
        Scalar::Call(f, args) => call(f, args),
        Scalar::InPersons {
            relation,
            view,
            alias,
            filter,
            negated,
        } => format!(
            "({} {}IN (SELECT {} FROM {} AS {}{}))",
            column_ref(relation, PSEUDONYM),
            if *negated { "NOT " } else { "" },
            column_ref(alias, PSEUDONYM),
            ident(view),
            ident(alias),
            filter
                .as_ref()
                .map_or(String::new(), |f| format!(" WHERE {}", scalar(f)))
        ),
    }
}

fn call(f: &Func, args: &[Scalar]) -> String {
    let arg = |i: usize, ty: Ty| args.get(i).map_or("NULL".into(), |a| scalar_as(a, ty));
    let num = |i: usize| args.get(i).map_or("NULL".into(), double);
    match f {
        Func::Year => format!("year({})", arg(0, Ty::Date)),
        Func::Month => format!("month({})", arg(0, Ty::Date)),
        Func::Quarter => format!("quarter({})", arg(0, Ty::Date)),
        Func::Day => format!("day({})", arg(0, Ty::Date)),
        Func::DateTrunc(u) => format!(
            "TRY_CAST(date_trunc({}, {}) AS DATE)",
            text_literal(u),
            arg(0, Ty::Date)
        ),
        Func::DateDiff(u) => format!(
            "date_diff({}, {}, {})",
            text_literal(u),
            arg(0, Ty::Date),
            arg(1, Ty::Date)
        ),
        Func::Lower => format!("lower({})", arg(0, Ty::Text)),
        Func::Upper => format!("upper({})", arg(0, Ty::Text)),
        Func::Trim => format!("trim({})", arg(0, Ty::Text)),
        Func::Length => format!("length({})", arg(0, Ty::Text)),
        Func::Left(n) => format!("left({}, {n})", arg(0, Ty::Text)),
        Func::Substr(a, n) => format!("substr({}, {a}, {n})", arg(0, Ty::Text)),
        Func::StartsWith(p) => format!("starts_with({}, {})", arg(0, Ty::Text), text_literal(p)),
        Func::Abs => format!("abs({})", num(0)),
        Func::Floor => format!("floor({})", num(0)),
        Func::Ceil => format!("ceil({})", num(0)),
        Func::Round(d) => format!("round({}, {d})", num(0)),
        Func::Greatest | Func::Least => {
            let name = if *f == Func::Greatest {
                "greatest"
            } else {
                "least"
            };
            let items: Vec<String> = args.iter().map(double).collect();
            format!("{name}({})", items.join(", "))
        }
        Func::Coalesce => {
            let ty = args
                .iter()
                .map(Scalar::ty)
                .find(|t| *t != Ty::Null)
                .unwrap_or(Ty::Null);
            let items: Vec<String> = args.iter().map(|a| scalar_as(a, ty)).collect();
            format!("coalesce({})", items.join(", "))
        }
    }
}

/// A key as SQL: dates as DATE (a timestamp's day).
fn key(k: &Scalar) -> String {
    if k.ty() == Ty::Date && !matches!(k, Scalar::Call(Func::DateTrunc(_), _)) {
        format!("TRY_CAST({} AS DATE)", scalar(k))
    } else {
        scalar(k)
    }
}

fn filter_clause(m: &Measure) -> String {
    m.filter
        .as_ref()
        .map_or(String::new(), |f| format!(" FILTER (WHERE {})", scalar(f)))
}

/// A measure's value as SQL; `person` is the person key.
fn measure(m: &Measure, person: &str) -> String {
    let arg = m.arg.as_ref().map_or("NULL".into(), column);
    let call = match &m.aggregate {
        Aggregate::Rows => "count(*)".to_owned(),
        Aggregate::Count => format!("count({arg})"),
        Aggregate::Persons => format!("count(DISTINCT {person})"),
        Aggregate::Sum => format!("sum({arg})"),
        Aggregate::Mean => format!("avg({arg})"),
        Aggregate::Min => format!("min({arg})"),
        Aggregate::Max => format!("max({arg})"),
        Aggregate::Median => format!("median({arg})"),
        Aggregate::Quantile { q, discrete } => format!(
            "{}({arg}, {q})",
            if *discrete {
                "quantile_disc"
            } else {
                "quantile_cont"
            }
        ),
    };
    format!("{call}{}", filter_clause(m))
}

/// The person sets of a measure, each as the condition on a row for its
/// person to belong (None: every row of the group). The first is the
/// number's own: the persons of the rows its FILTER keeps where its column
/// is not NULL. Sums and means add the persons whose value is not zero: a
/// sum over many zeros and one non-zero person is that person's value.
pub(crate) fn person_sets(m: &Measure) -> Vec<Option<String>> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(f) = &m.filter {
        parts.push(scalar(f));
    }
    let Some(c) = &m.arg else {
        return vec![(!parts.is_empty()).then(|| parts.join(" AND "))];
    };
    let c = column(c);
    parts.push(format!("{c} IS NOT NULL"));
    let own = parts.join(" AND ");
    if matches!(m.aggregate, Aggregate::Sum | Aggregate::Mean) {
        vec![Some(own.clone()), Some(format!("{own} AND {c} <> 0"))]
    } else {
        vec![Some(own)]
    }
}

/// One person's contribution to an additive measure, within the person's
/// rows of a group.
fn contribution(m: &Measure) -> String {
    let filter = filter_clause(m);
    match (&m.aggregate, &m.arg) {
        (Aggregate::Sum | Aggregate::Mean, Some(c)) => format!("sum({}){filter}", column(c)),
        (Aggregate::Count, Some(c)) => format!("count({}){filter}", column(c)),
        _ => format!("count(*){filter}"),
    }
}

fn measure_expr(e: &MeasureExpr, measures: &[Measure], person: &str) -> String {
    match e {
        MeasureExpr::Measure(i) => measure(&measures[*i], person),
        MeasureExpr::Number(n) => format!("CAST({n} AS DOUBLE)"),
        MeasureExpr::Arith(a, op, b) => format!(
            "(TRY_CAST({} AS DOUBLE) {} TRY_CAST({} AS DOUBLE))",
            measure_expr(a, measures, person),
            arith(*op),
            measure_expr(b, measures, person)
        ),
        MeasureExpr::Negate(a) => format!(
            "(- TRY_CAST({} AS DOUBLE))",
            measure_expr(a, measures, person)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::{TableShape, parse};

    #[test]
    fn the_researchers_names_never_reach_the_engine() {
        let shapes = vec![TableShape {
            view: "persons".into(),
            columns: vec![
                ("pseudonym".into(), Ty::Text),
                ("age".into(), Ty::Num),
                ("sex".into(), Ty::Text),
            ],
        }];
        let r = parse(
            "SELECT p.sex AS s, count(*) FILTER (WHERE p.age / 0 > 1) AS n FROM persons AS p GROUP BY s",
            &shapes,
        )
        .unwrap();
        let plan = Plan {
            request: &r,
            aids: Aids::default(),
        };
        let sql = plan.sql(Counting::Exact);
        assert!(!sql.contains(" p."), "{sql}");
        assert!(
            sql.contains("TRY_CAST(\"__niji_t1\".\"age\" AS DOUBLE) / CAST(0 AS DOUBLE)"),
            "{sql}"
        );
        assert!(
            sql.contains("count(DISTINCT hash(\"__niji_t1\".\"pseudonym\"))"),
            "{sql}"
        );
    }
}
