//! The synthetic population: persons in households, with names and an
//! insurance history over the period.
//!
//! Persons are made in blocks of [`BLOCK_SIZE`]. A block is self-contained
//! (households never span two blocks) and has its own ChaCha stream, so
//! memory stays bounded however many persons are asked for, and the output
//! is the same for the same seed however it is produced.
//!
//! A block is made in two steps. First the people as they are at the start
//! of the period: ages and sexes drawn from Japan's age structure, then
//! married couples, children placed with mothers of a fitting age, twins,
//! names, and the insurance cards each household holds. Then the period is
//! played month by month: deaths, job changes, retirements into 国保, the
//! move into 後期高齢者医療 at 75, house moves and marriages, each closing
//! the spells it ends and opening new ones.

use crate::insurer::{Scheme, insurer_number};
use crate::names::{self, Name};
use crate::reference::{self, AGE_BANDS, MUNICIPALITIES_PER_PREFECTURE, PREFECTURES};
use crate::{Period, Rates};
use chrono::{Datelike, Days, NaiveDate};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Persons per block.
pub const BLOCK_SIZE: u64 = 4096;

/// Sex, with the codes claims use (1 male, 2 female).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// 男.
    Male,
    /// 女.
    Female,
}

impl Sex {
    /// The claim code: `1` or `2`.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
        }
    }
}

/// A name a person held from a date on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSpell {
    /// First day the name was in use.
    pub valid_from: NaiveDate,
    /// Family name.
    pub family: Name,
    /// Given name.
    pub given: Name,
}

/// An insurance card as issued: insurer number, symbol (記号) and number (番号).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Which scheme issued it.
    pub scheme: Scheme,
    /// Eight-digit insurer number with a valid check digit.
    pub insurer: String,
    /// Card symbol; empty for 後期高齢者医療.
    pub symbol: String,
    /// Card number.
    pub number: String,
}

/// A stretch of time a person was insured under one card and branch number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsuranceSpell {
    /// First day.
    pub valid_from: NaiveDate,
    /// Last day, if it ended within the period.
    pub valid_to: Option<NaiveDate>,
    /// The card.
    pub card: Card,
    /// Two-digit branch number (枝番): `00` the insured, `01`… dependants.
    pub branch: String,
}

/// One synthetic person and their truth.
#[derive(Debug, Clone)]
pub struct Person {
    /// Dense id, from 1.
    pub id: u64,
    /// Sex.
    pub sex: Sex,
    /// Birth date.
    pub birth: NaiveDate,
    /// Death date, if within the period.
    pub death: Option<NaiveDate>,
    /// Prefecture code, 1–47.
    pub prefecture: u32,
    /// Five-digit municipality code (synthetic within the prefecture).
    pub municipality: String,
    /// Household id (the id of its first member).
    pub household: u64,
    /// The twin's id, for twins.
    pub twin: Option<u64>,
    /// Every name held, oldest first.
    pub names: Vec<NameSpell>,
    /// Insurance over the period, oldest first.
    pub insurance: Vec<InsuranceSpell>,
}

impl Person {
    /// The name the person held on a day.
    pub fn name_on(&self, day: NaiveDate) -> &NameSpell {
        self.names
            .iter()
            .rev()
            .find(|n| n.valid_from <= day)
            .unwrap_or(&self.names[0])
    }

    /// The insurance spell covering a day, if any.
    pub fn spell_on(&self, day: NaiveDate) -> Option<&InsuranceSpell> {
        self.insurance
            .iter()
            .find(|s| s.valid_from <= day && s.valid_to.is_none_or(|to| to >= day))
    }
}

/// Makes block `index` of a population: persons `first_id ..` (`count` of them).
pub fn block(
    seed: u64,
    index: u64,
    first_id: u64,
    count: usize,
    period: &Period,
    rates: &Rates,
) -> Vec<Person> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let mut builder = Builder::new(&mut rng, first_id, count, period, rates);
    builder.households();
    builder.twins();
    builder.places_and_names();
    builder.start_cards();
    builder.play_period();
    builder.people
}

/// Working state of one block.
struct Builder<'a> {
    rng: &'a mut ChaCha8Rng,
    period: &'a Period,
    rates: &'a Rates,
    people: Vec<Person>,
    /// Index of each person's spouse in the block.
    spouse: Vec<Option<usize>>,
    /// Index of each child's mother.
    mother: Vec<Option<usize>>,
    /// Index of each person's household head.
    head: Vec<usize>,
    /// Index into `cards` of each person's current card, and their branch.
    current: Vec<Option<(usize, String)>>,
    cards: Vec<CardGroup>,
}

/// A card and who is on it.
struct CardGroup {
    card: Card,
    holder: usize,
    dependants: Vec<usize>,
    /// Municipality index, for 国保 cards (a move changes it).
    municipality: u32,
}

/// Age in whole years on a date.
pub fn age_on(birth: NaiveDate, date: NaiveDate) -> u32 {
    let mut age = date.year() - birth.year();
    if (date.month(), date.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age.max(0) as u32
}

/// The person's birthday in `year` (28 February for those born on the 29th).
fn birthday_in(birth: NaiveDate, year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, birth.month(), 28))
        .expect("valid month")
}

fn digits(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

impl<'a> Builder<'a> {
    fn new(
        rng: &'a mut ChaCha8Rng,
        first_id: u64,
        count: usize,
        period: &'a Period,
        rates: &'a Rates,
    ) -> Self {
        let bands = WeightedIndex::new(AGE_BANDS.iter().map(|(_, m)| *m)).expect("weights");
        let mut people = Vec::with_capacity(count);
        for i in 0..count {
            let (low, _) = AGE_BANDS[bands.sample(rng)];
            let age = low + rng.random_range(0..5);
            // Born within the year before the start's `age`-th anniversary,
            // so the age at the start is exactly `age`. The start is a 1st.
            let anniversary =
                NaiveDate::from_ymd_opt(period.from.year() - age as i32, period.from.month(), 1)
                    .expect("first of a month");
            let birth = anniversary - Days::new(rng.random_range(1..=365));
            let female = rng.random_bool(reference::female_share(age));
            people.push(Person {
                id: first_id + i as u64,
                sex: if female { Sex::Female } else { Sex::Male },
                birth,
                death: None,
                prefecture: 0,
                municipality: String::new(),
                household: 0,
                twin: None,
                names: Vec::new(),
                insurance: Vec::new(),
            });
        }
        Self {
            rng,
            period,
            rates,
            spouse: vec![None; count],
            mother: vec![None; count],
            head: (0..count).collect(),
            current: vec![None; count],
            cards: Vec::new(),
            people,
        }
    }

    fn age(&self, i: usize) -> u32 {
        age_on(self.people[i].birth, self.period.from)
    }

    fn female(&self, i: usize) -> bool {
        self.people[i].sex == Sex::Female
    }

    /// People of one sex, bucketed by age at the start.
    fn by_age(&self, female: bool) -> Vec<Vec<usize>> {
        let mut buckets = vec![Vec::new(); 110];
        for i in 0..self.people.len() {
            if self.female(i) == female {
                buckets[(self.age(i) as usize).min(109)].push(i);
            }
        }
        buckets
    }

    /// Marries women to men a little older, and places children under 20
    /// with a mother 22–42 years older; household heads follow.
    fn households(&mut self) {
        let mut men = self.by_age(false);
        for i in 0..self.people.len() {
            let age = self.age(i);
            // Marriage from 20 keeps spouses and children (under 20) apart.
            if !self.female(i) || age < 20 || !self.rng.random_bool(reference::married_share(age)) {
                continue;
            }
            let start = self.rng.random_range(0..7usize);
            for step in 0..7usize {
                let husband_age = (age as usize + (start + step) % 7).min(109);
                let bucket = &mut men[husband_age];
                if !bucket.is_empty() {
                    let man = bucket.swap_remove(self.rng.random_range(0..bucket.len()));
                    if self.age(man) >= 20 {
                        self.spouse[i] = Some(man);
                        self.spouse[man] = Some(i);
                        break;
                    }
                }
            }
        }
        let women = self.by_age(true);
        for i in 0..self.people.len() {
            let age = self.age(i) as usize;
            if age >= 20 {
                continue;
            }
            let start = self.rng.random_range(0..21usize);
            for step in 0..21usize {
                let mother_age = (age + 22 + (start + step) % 21).min(109);
                let bucket = &women[mother_age];
                if !bucket.is_empty() {
                    self.mother[i] = Some(bucket[self.rng.random_range(0..bucket.len())]);
                    break;
                }
            }
        }
        self.assign_heads();
    }

    /// The husband heads a married couple's household; children join their
    /// mother's household.
    fn assign_heads(&mut self) {
        for i in 0..self.people.len() {
            self.head[i] = match (self.mother[i], self.spouse[i]) {
                (Some(mother), _) => self.spouse[mother]
                    .filter(|&h| !self.female(h))
                    .unwrap_or(mother),
                (None, Some(spouse)) if self.female(i) => spouse,
                _ => i,
            };
        }
    }

    /// Turns pairs of same-age children into twins in one household.
    fn twins(&mut self) {
        let n = self.people.len();
        let mut by_age: Vec<Vec<usize>> = vec![Vec::new(); 20];
        for i in 0..n {
            if self.age(i) < 20 && self.mother[i].is_some() {
                by_age[self.age(i) as usize].push(i);
            }
        }
        // Each event makes two twins, so it fires at half the wanted share.
        let chance = (self.rates.twins / 2.0).clamp(0.0, 1.0);
        for i in 0..n {
            if self.age(i) >= 20 || self.mother[i].is_none() || self.people[i].twin.is_some() {
                continue;
            }
            if !self.rng.random_bool(chance) {
                continue;
            }
            let age = self.age(i) as usize;
            let candidates: Vec<usize> = by_age[age]
                .iter()
                .copied()
                .filter(|&j| j != i && self.people[j].twin.is_none())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let j = candidates[self.rng.random_range(0..candidates.len())];
            self.mother[j] = self.mother[i];
            self.head[j] = self.head[i];
            self.people[j].birth = self.people[i].birth;
            // Identical twins always share a sex, fraternal ones half the
            // time: about two pairs in three are same-sex.
            self.people[j].sex = if self.rng.random_bool(0.65) {
                self.people[i].sex
            } else if self.female(i) {
                Sex::Male
            } else {
                Sex::Female
            };
            self.people[i].twin = Some(self.people[j].id);
            self.people[j].twin = Some(self.people[i].id);
        }
    }

    /// Household members, head first.
    fn members(&self) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.people.len()];
        for i in 0..self.people.len() {
            groups[self.head[i]].push(i);
        }
        for (head, group) in groups.iter_mut().enumerate() {
            group.sort_by_key(|&m| (m != head, m));
        }
        groups
    }

    fn places_and_names(&mut self) {
        let prefectures = WeightedIndex::new(PREFECTURES.iter().map(|(_, m)| *m)).expect("weights");
        let towns = WeightedIndex::new(
            (1..=MUNICIPALITIES_PER_PREFECTURE).map(|rank| 1.0 / f64::from(rank)),
        )
        .expect("weights");
        for (head, group) in self.members().into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let prefecture = prefectures.sample(self.rng) as u32 + 1;
            let town = towns.sample(self.rng) as u32;
            let family = names::family(self.rng);
            for &m in &group {
                self.people[m].prefecture = prefecture;
                self.people[m].municipality = municipality_code(prefecture, town);
                self.people[m].household = self.people[head].id;
                self.name(m, family);
            }
        }
    }

    /// Gives a person their names: the household's family name, and for a
    /// married woman her maiden name until a wedding before the period.
    fn name(&mut self, m: usize, family: Name) {
        let female = self.female(m);
        let birth = self.people[m].birth;
        let twin_name = self.people[m]
            .twin
            .and_then(|id| self.people.iter().find(|p| p.id == id))
            .and_then(|twin| twin.names.first().map(|n| n.given));
        let given = match twin_name {
            Some(sibling) => names::similar_given(self.rng, female, sibling),
            None => names::given(self.rng, female, birth.year()),
        };
        let married_woman = female && self.spouse[m].is_some() && self.head[m] != m;
        if married_woman && self.age(m) > 20 {
            let married_at = self.rng.random_range(20..self.age(m).clamp(21, 36));
            let wedding = birthday_in(birth, birth.year() + married_at as i32)
                + Days::new(self.rng.random_range(0..300));
            let wedding = wedding.min(self.period.from - Days::new(1));
            let maiden = names::family(self.rng);
            if maiden != family {
                self.people[m].names.push(NameSpell {
                    valid_from: birth,
                    family: maiden,
                    given,
                });
                self.people[m].names.push(NameSpell {
                    valid_from: wedding,
                    family,
                    given,
                });
                return;
            }
        }
        self.people[m].names.push(NameSpell {
            valid_from: birth,
            family,
            given,
        });
    }

    /// Issues a new card of a scheme for someone living where `holder` lives.
    fn issue(&mut self, scheme: Scheme, holder: usize, municipality: u32) -> usize {
        let prefecture = self.people[holder].prefecture;
        let index = match scheme {
            Scheme::Kokuho => prefecture * 100 + municipality,
            _ => self.rng.random_range(0..900),
        };
        let (symbol, number) = match scheme {
            Scheme::Kyokai => (digits(self.rng, 8), digits(self.rng, 7)),
            Scheme::Kumiai => (digits(self.rng, 4), digits(self.rng, 6)),
            Scheme::Kyosai => (digits(self.rng, 3), digits(self.rng, 6)),
            Scheme::Kokuho => (digits(self.rng, 4), digits(self.rng, 7)),
            Scheme::Koki => (String::new(), digits(self.rng, 8)),
        };
        self.cards.push(CardGroup {
            card: Card {
                scheme,
                insurer: insurer_number(scheme, prefecture, index),
                symbol,
                number,
            },
            holder,
            dependants: Vec::new(),
            municipality,
        });
        self.cards.len() - 1
    }

    fn employee_scheme(&mut self) -> Scheme {
        match self.rng.random_range(0..100) {
            0..45 => Scheme::Kyokai,
            45..85 => Scheme::Kumiai,
            _ => Scheme::Kyosai,
        }
    }

    fn employed(&mut self, age: u32) -> bool {
        let p = match age {
            0..20 => 0.3,
            20..60 => 0.82,
            60..65 => 0.55,
            _ => 0.25,
        };
        self.rng.random_bool(p)
    }

    /// Puts `person` on `card` from `date`, closing their previous spell.
    fn enrol(&mut self, person: usize, card: usize, date: NaiveDate) {
        if let Some((old, _)) = self.current[person].take() {
            self.cards[old].dependants.retain(|&d| d != person);
            let insurance = &mut self.people[person].insurance;
            match insurance.last_mut() {
                // A card taken and left on the same day (an event on the
                // first day of the period) held no day at all: replace it
                // rather than leave a spell that ends before it starts.
                Some(last) if last.valid_from >= date => {
                    insurance.pop();
                }
                Some(last) => last.valid_to = Some(date - Days::new(1)),
                None => {}
            }
        }
        let branch = if self.cards[card].holder == person {
            "00".to_owned()
        } else {
            self.cards[card].dependants.push(person);
            format!("{:02}", self.cards[card].dependants.len())
        };
        self.people[person].insurance.push(InsuranceSpell {
            valid_from: date,
            valid_to: None,
            card: self.cards[card].card.clone(),
            branch: branch.clone(),
        });
        self.current[person] = Some((card, branch));
    }

    /// The cards each household holds at the start of the period.
    fn start_cards(&mut self) {
        let start = self.period.from;
        for group in self.members() {
            let Some(&head) = group.first() else { continue };
            let town = self.town_of(head);
            let head_scheme = if self.age(head) >= 75 {
                Scheme::Koki
            } else if self.employed(self.age(head)) {
                self.employee_scheme()
            } else {
                Scheme::Kokuho
            };
            let head_card = self.issue(head_scheme, head, town);
            self.enrol(head, head_card, start);
            // Household members under 75 whose head is on 後期 share a 国保 card.
            let mut kokuho: Option<usize> = None;
            for &m in &group[1..] {
                let card = if self.age(m) >= 75 {
                    self.issue(Scheme::Koki, m, town)
                } else if head_scheme == Scheme::Koki {
                    match kokuho {
                        Some(card) => card,
                        None => {
                            let card = self.issue(Scheme::Kokuho, m, town);
                            kokuho = Some(card);
                            card
                        }
                    }
                } else if self.spouse[m] == Some(head)
                    && head_scheme.is_employee()
                    && self.rng.random_bool(0.4)
                {
                    // A working spouse has a card of their own.
                    let scheme = self.employee_scheme();
                    self.issue(scheme, m, town)
                } else {
                    head_card
                };
                self.enrol(m, card, start);
            }
        }
    }

    fn town_of(&self, person: usize) -> u32 {
        let code: u32 = self.people[person].municipality[2..].parse().unwrap_or(201);
        code - 201
    }

    fn alive(&self, i: usize, on: NaiveDate) -> bool {
        self.people[i].death.is_none_or(|d| d >= on)
    }

    /// A random day of the month starting `first`, within the period.
    fn day_in(&mut self, first: NaiveDate) -> NaiveDate {
        let next = first + chrono::Months::new(1);
        let days = (next - first).num_days() as u64;
        (first + Days::new(self.rng.random_range(0..days))).min(self.period.to)
    }

    /// Plays the period month by month. Each month's events are drawn from
    /// the state at its start, then applied in date order, each checked
    /// again when applied (a holder who died on the 3rd changes no job on
    /// the 20th).
    fn play_period(&mut self) {
        let mut month = self.period.from;
        while month <= self.period.to {
            let mut events = Vec::new();
            self.draw_people_events(month, &mut events);
            self.draw_card_events(month, &mut events);
            // A stable sort keeps the draw order for events on the same day.
            events.sort_by_key(|(day, _)| *day);
            for (day, event) in events {
                self.apply(day, event);
            }
            month = month + chrono::Months::new(1);
        }
    }

    /// Deaths, 75th birthdays and marriages.
    fn draw_people_events(&mut self, month: NaiveDate, events: &mut Vec<(NaiveDate, Event)>) {
        for i in 0..self.people.len() {
            if !self.alive(i, month) {
                continue;
            }
            let birth = self.people[i].birth;
            let age = age_on(birth, month);
            if self.rng.random_bool(reference::death_rate(age) / 12.0) {
                events.push((self.day_in(month), Event::Death(i)));
            }
            let birthday = birthday_in(birth, month.year());
            if birthday.month() == month.month()
                && month.year() - birth.year() == 75
                && birthday <= self.period.to
            {
                events.push((birthday, Event::Turn75(i)));
            }
            if self.female(i)
                && self.spouse[i].is_none()
                && (25..=35).contains(&age)
                && self.people[i].names.len() == 1
                && self.rng.random_bool(self.rates.marriage / 12.0)
            {
                events.push((self.day_in(month), Event::Marry(i)));
            }
        }
    }

    /// Job changes, retirements and moves: things that happen to a card's
    /// holder and everyone on the card with them.
    fn draw_card_events(&mut self, month: NaiveDate, events: &mut Vec<(NaiveDate, Event)>) {
        for card in 0..self.cards.len() {
            if !self.holds(card, month) {
                continue;
            }
            let holder = self.cards[card].holder;
            let birth = self.people[holder].birth;
            let scheme = self.cards[card].card.scheme;
            if scheme.is_employee() {
                if age_on(birth, month) < 65 && self.rng.random_bool(self.rates.job_change / 12.0) {
                    events.push((self.day_in(month), Event::JobChange(card)));
                }
                let birthday = birthday_in(birth, month.year());
                if birthday.month() == month.month()
                    && (60..65).contains(&(month.year() - birth.year()))
                    && birthday <= self.period.to
                    && self.rng.random_bool(self.rates.retirement)
                {
                    events.push((birthday, Event::Retire(card)));
                }
            } else if scheme == Scheme::Kokuho && self.rng.random_bool(self.rates.moves / 12.0) {
                events.push((self.day_in(month), Event::Move(card)));
            }
        }
    }

    /// Whether `card`'s holder is alive on `day` and still on it.
    fn holds(&self, card: usize, day: NaiveDate) -> bool {
        let holder = self.cards[card].holder;
        self.alive(holder, day)
            && self.current[holder]
                .as_ref()
                .is_some_and(|(c, _)| *c == card)
    }

    fn apply(&mut self, day: NaiveDate, event: Event) {
        match event {
            Event::Death(i) if self.alive(i, day) => self.die(i, day),
            Event::Turn75(i) if self.alive(i, day) => self.turn_75(i, day),
            Event::Marry(i) if self.alive(i, day) => self.marry(i, day),
            Event::JobChange(card) if self.holds(card, day) => {
                let scheme = self.employee_scheme();
                self.move_group(card, scheme, day);
            }
            Event::Retire(card) if self.holds(card, day) => {
                self.move_group(card, Scheme::Kokuho, day);
            }
            Event::Move(card) if self.holds(card, day) => {
                let town = (self.cards[card].municipality + 1 + self.rng.random_range(0..5))
                    % MUNICIPALITIES_PER_PREFECTURE;
                self.cards[card].municipality = town;
                self.move_group(card, Scheme::Kokuho, day);
            }
            _ => {}
        }
    }

    fn die(&mut self, i: usize, day: NaiveDate) {
        self.people[i].death = Some(day);
        if let Some(last) = self.people[i].insurance.last_mut() {
            last.valid_to = Some(day);
        }
        if let Some((card, _)) = self.current[i].take() {
            self.cards[card].dependants.retain(|&d| d != i);
            self.orphan_dependants(card, i, day + Days::new(1));
        }
    }

    /// When a card's holder leaves it (death, 後期), its dependants move to a
    /// 国保 card of their own, the eldest as its holder.
    fn orphan_dependants(&mut self, card: usize, holder: usize, from: NaiveDate) {
        if self.cards[card].holder != holder
            || self.cards[card].dependants.is_empty()
            || from > self.period.to
        {
            return;
        }
        let mut left = std::mem::take(&mut self.cards[card].dependants);
        left.sort_by_key(|&d| self.people[d].birth);
        let town = self.cards[card].municipality;
        let new_card = self.issue(Scheme::Kokuho, left[0], town);
        for d in left {
            if self.alive(d, from) {
                self.enrol(d, new_card, from);
            }
        }
    }

    fn turn_75(&mut self, i: usize, birthday: NaiveDate) {
        let Some((card, _)) = self.current[i].clone() else {
            return;
        };
        if self.cards[card].card.scheme == Scheme::Koki {
            return;
        }
        let town = self.cards[card].municipality;
        let koki = self.issue(Scheme::Koki, i, town);
        self.enrol(i, koki, birthday);
        self.orphan_dependants(card, i, birthday);
    }

    /// Moves a card's holder and dependants onto a new card of `scheme`.
    fn move_group(&mut self, card: usize, scheme: Scheme, day: NaiveDate) {
        let holder = self.cards[card].holder;
        let dependants = self.cards[card].dependants.clone();
        let town = self.cards[card].municipality;
        let new_card = self.issue(scheme, holder, town);
        self.enrol(holder, new_card, day);
        for d in dependants {
            if self.alive(d, day) {
                self.enrol(d, new_card, day);
            }
        }
    }

    /// An unmarried woman marries and takes a new family name.
    fn marry(&mut self, i: usize, day: NaiveDate) {
        let given = self.people[i].names[0].given;
        let current = self.people[i].names[0].family;
        let mut family = names::family(self.rng);
        while family == current {
            family = names::family(self.rng);
        }
        self.people[i].names.push(NameSpell {
            valid_from: day,
            family,
            given,
        });
    }
}

/// Something that happens to a person or a card on a day.
#[derive(Debug, Clone, Copy)]
enum Event {
    Death(usize),
    Turn75(usize),
    Marry(usize),
    JobChange(usize),
    Retire(usize),
    Move(usize),
}

/// A synthetic municipality code: prefecture, then 201 + the town's index.
fn municipality_code(prefecture: u32, town: u32) -> String {
    format!("{prefecture:02}{:03}", 201 + town)
}
