//! The clinical story: which conditions a person has and when they began,
//! and what each condition brings to a claim (drugs, tests).
//!
//! Prevalence by age and sex is approximate and follows the shape of
//! Japanese survey figures (患者調査, 国民健康・栄養調査): hypertension in
//! about half of people over 70, diabetes more common in men, osteoporosis
//! mostly in older women, dementia rising steeply after 80. ICD-10 codes are
//! real. The 7-digit disease codes and the 9-digit drug and procedure codes
//! have the format of the レセ電 masters but are synthetic: they are
//! consistent within niji and must not be read as the real masters.

use crate::population::{Person, Sex};
use chrono::{Days, NaiveDate};
use rand::Rng;

/// A drug as a claim's IY record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drug {
    /// Synthetic 9-digit drug code (format of the レセ電 医薬品 master).
    pub code: &'static str,
    /// Name as printed.
    pub name: &'static str,
    /// Points per day of prescription.
    pub points_per_day: u32,
}

/// A test or procedure as a claim's SI record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Procedure {
    /// Care category (診療識別): 11 first visit, 12 revisit, 60 tests, 90 inpatient basic.
    pub category: &'static str,
    /// Synthetic 9-digit procedure code.
    pub code: &'static str,
    /// Name as printed.
    pub name: &'static str,
    /// Points.
    pub points: u32,
}

/// A condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// Short key used in code and tests.
    pub key: &'static str,
    /// Japanese disease name as a claim prints it.
    pub name: &'static str,
    /// ICD-10 code (2013 Japanese edition).
    pub icd10: &'static str,
    /// Synthetic 7-digit disease code; `0000999` is the real "uncoded".
    pub code: &'static str,
    /// Drugs prescribed for it.
    pub drugs: &'static [Drug],
    /// A test done for it every few months.
    pub test: Option<Procedure>,
    /// Whether it is one of the rare diseases (a few persons per 100,000).
    pub rare: bool,
}

const fn drug(code: &'static str, name: &'static str, points_per_day: u32) -> Drug {
    Drug {
        code,
        name,
        points_per_day,
    }
}

const fn test(code: &'static str, name: &'static str, points: u32) -> Option<Procedure> {
    Some(Procedure {
        category: "60",
        code,
        name,
        points,
    })
}

/// First visit (初診料) and revisit (再診料), with their 2020 points.
pub const FIRST_VISIT: Procedure = Procedure {
    category: "11",
    code: "111000110",
    name: "初診料",
    points: 288,
};
/// 再診料.
pub const REVISIT: Procedure = Procedure {
    category: "12",
    code: "112007410",
    name: "再診料",
    points: 73,
};

/// Every condition niji knows, common ones first, then rare ones.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        key: "hypertension",
        name: "高血圧症",
        icd10: "I10",
        code: "8833421",
        drugs: &[
            drug("620008001", "アムロジピン錠５ｍｇ", 1),
            drug("620008002", "カンデサルタン錠８ｍｇ", 3),
        ],
        test: None,
        rare: false,
    },
    Condition {
        key: "diabetes",
        name: "２型糖尿病",
        icd10: "E11",
        code: "8840107",
        drugs: &[
            drug("620008101", "メトホルミン塩酸塩錠２５０ｍｇ", 2),
            drug("620008102", "シタグリプチン錠５０ｍｇ", 12),
        ],
        test: test("160010010", "ＨｂＡ１ｃ", 49),
        rare: false,
    },
    Condition {
        key: "dyslipidaemia",
        name: "脂質異常症",
        icd10: "E78",
        code: "8846123",
        drugs: &[drug("620008201", "アトルバスタチン錠１０ｍｇ", 3)],
        test: test("160010120", "ＬＤＬ－コレステロール", 18),
        rare: false,
    },
    Condition {
        key: "ckd",
        name: "慢性腎臓病",
        icd10: "N18",
        code: "8850001",
        drugs: &[drug("620008301", "球形吸着炭細粒", 15)],
        test: test("160010210", "クレアチニン", 11),
        rare: false,
    },
    Condition {
        key: "heart_failure",
        name: "慢性心不全",
        icd10: "I50",
        code: "4289006",
        drugs: &[
            drug("620008401", "フロセミド錠２０ｍｇ", 1),
            drug("620008402", "ビソプロロールフマル酸塩錠２．５ｍｇ", 2),
        ],
        test: test("160010310", "ＢＮＰ", 130),
        rare: false,
    },
    Condition {
        key: "dementia",
        name: "アルツハイマー型認知症",
        icd10: "G30",
        code: "3310009",
        drugs: &[drug("620008501", "ドネペジル塩酸塩錠５ｍｇ", 8)],
        test: None,
        rare: false,
    },
    Condition {
        key: "dementia_unspecified",
        name: "認知症",
        icd10: "F03",
        code: "2900005",
        drugs: &[drug("620008502", "メマンチン塩酸塩錠２０ｍｇ", 18)],
        test: None,
        rare: false,
    },
    Condition {
        key: "stroke",
        name: "脳梗塞",
        icd10: "I63",
        code: "4349004",
        drugs: &[drug("620008601", "クロピドグレル錠７５ｍｇ", 7)],
        test: None,
        rare: false,
    },
    Condition {
        key: "osteoporosis",
        name: "骨粗鬆症",
        icd10: "M81",
        code: "7330006",
        drugs: &[drug("620008701", "アレンドロン酸錠３５ｍｇ", 5)],
        test: None,
        rare: false,
    },
    Condition {
        key: "gastric_cancer",
        name: "胃癌",
        icd10: "C16",
        code: "1519008",
        drugs: &[drug(
            "620008801",
            "テガフール・ギメラシル・オテラシルカリウム配合カプセル",
            160,
        )],
        test: None,
        rare: false,
    },
    Condition {
        key: "colon_cancer",
        name: "結腸癌",
        icd10: "C18",
        code: "1539007",
        drugs: &[drug("620008802", "カペシタビン錠３００ｍｇ", 120)],
        test: None,
        rare: false,
    },
    Condition {
        key: "lung_cancer",
        name: "肺癌",
        icd10: "C34",
        code: "1629005",
        drugs: &[drug("620008803", "オシメルチニブ錠８０ｍｇ", 2000)],
        test: None,
        rare: false,
    },
    Condition {
        key: "breast_cancer",
        name: "乳癌",
        icd10: "C50",
        code: "1749003",
        drugs: &[drug("620008804", "タモキシフェン錠２０ｍｇ", 14)],
        test: None,
        rare: false,
    },
    Condition {
        key: "copd",
        name: "慢性閉塞性肺疾患",
        icd10: "J44",
        code: "4962002",
        drugs: &[drug("620008901", "チオトロピウム吸入用カプセル", 20)],
        test: None,
        rare: false,
    },
    Condition {
        key: "depression",
        name: "うつ病",
        icd10: "F32",
        code: "2961003",
        drugs: &[drug("620009001", "セルトラリン錠２５ｍｇ", 4)],
        test: None,
        rare: false,
    },
    Condition {
        key: "als",
        name: "筋萎縮性側索硬化症",
        icd10: "G12.2",
        code: "3352001",
        drugs: &[drug("620009101", "リルゾール錠５０ｍｇ", 130)],
        test: None,
        rare: true,
    },
    Condition {
        key: "fabry",
        name: "ファブリー病",
        icd10: "E75.2",
        code: "2727006",
        drugs: &[drug(
            "620009102",
            "ミガーラスタットカプセル１２３ｍｇ",
            9000,
        )],
        test: None,
        rare: true,
    },
    Condition {
        key: "pah",
        name: "肺動脈性肺高血圧症",
        icd10: "I27.0",
        code: "4160004",
        drugs: &[drug("620009103", "マシテンタン錠１０ｍｇ", 1500)],
        test: None,
        rare: true,
    },
    Condition {
        key: "huntington",
        name: "ハンチントン病",
        icd10: "G10",
        code: "3330008",
        drugs: &[drug("620009104", "テトラベナジン錠１２．５ｍｇ", 300)],
        test: None,
        rare: true,
    },
];

/// Conditions that bring one visit and are then over.
pub const ACUTE: &[Condition] = &[
    Condition {
        key: "uri",
        name: "急性上気道炎",
        icd10: "J06.9",
        code: "4659007",
        drugs: &[drug("620009201", "カルボシステイン錠５００ｍｇ", 2)],
        test: None,
        rare: false,
    },
    Condition {
        key: "gastroenteritis",
        name: "急性胃腸炎",
        icd10: "K52.9",
        code: "5589004",
        drugs: &[drug("620009202", "ビフィズス菌製剤錠", 1)],
        test: None,
        rare: false,
    },
    Condition {
        key: "low_back_pain",
        name: "腰痛症",
        icd10: "M54.5",
        code: "7243009",
        drugs: &[drug("620009203", "ロキソプロフェンナトリウム錠６０ｍｇ", 2)],
        test: None,
        rare: false,
    },
];

/// Conditions that bring a hospital stay of their own, with the range of
/// its length in days.
pub const ADMISSIONS: &[(Condition, u64, u64)] = &[
    (
        Condition {
            key: "pneumonia",
            name: "肺炎",
            icd10: "J18.9",
            code: "4860006",
            drugs: &[drug(
                "620009301",
                "セフトリアキソンナトリウム静注用１ｇ",
                60,
            )],
            test: None,
            rare: false,
        },
        8,
        21,
    ),
    (
        Condition {
            key: "hip_fracture",
            name: "大腿骨頸部骨折",
            icd10: "S72.0",
            code: "8208001",
            drugs: &[drug("620009302", "アセトアミノフェン錠２００ｍｇ", 1)],
            test: None,
            rare: false,
        },
        18,
        40,
    ),
    (
        Condition {
            key: "cholelithiasis",
            name: "胆のう結石症",
            icd10: "K80.2",
            code: "5742007",
            drugs: &[drug("620009303", "ウルソデオキシコール酸錠１００ｍｇ", 2)],
            test: None,
            rare: false,
        },
        4,
        9,
    ),
    (
        Condition {
            key: "cataract",
            name: "老人性白内障",
            icd10: "H25.9",
            code: "3669005",
            drugs: &[drug("620009304", "レボフロキサシン点眼液１．５％", 10)],
            test: None,
            rare: false,
        },
        2,
        4,
    ),
    (
        Condition {
            key: "angina",
            name: "狭心症",
            icd10: "I20.9",
            code: "4139007",
            drugs: &[drug("620009305", "硝酸イソソルビドテープ４０ｍｇ", 5)],
            test: None,
            rare: false,
        },
        3,
        7,
    ),
];

/// Yearly chance of an admission for one of [`ADMISSIONS`] at an age: 4%
/// under 65, 10% at 65–74 and 20% from 75, which with the stays after
/// strokes, cancers and heart failure comes near Japan's one admission per
/// ten persons a year.
pub fn admission_rate(age: u32) -> f64 {
    match age {
        0..65 => 0.04,
        65..75 => 0.10,
        _ => 0.20,
    }
}

/// Prevalence of a common condition at an age, for a sex.
fn prevalence(key: &str, age: u32, female: bool) -> f64 {
    let band =
        |young: f64, forties: f64, fifties: f64, sixties: f64, seventies: f64, eighties: f64| {
            match age {
                0..40 => young,
                40..50 => forties,
                50..60 => fifties,
                60..70 => sixties,
                70..80 => seventies,
                _ => eighties,
            }
        };
    match key {
        "hypertension" => band(0.02, 0.12, 0.28, 0.42, 0.55, 0.60),
        "diabetes" => band(0.005, 0.04, 0.08, 0.13, 0.16, 0.15) * if female { 0.7 } else { 1.3 },
        "dyslipidaemia" => {
            band(0.02, 0.10, 0.20, 0.28, 0.30, 0.25) * if female && age >= 50 { 1.2 } else { 1.0 }
        }
        "ckd" => band(0.0, 0.01, 0.03, 0.06, 0.12, 0.20),
        "heart_failure" => band(0.0, 0.0, 0.005, 0.01, 0.03, 0.08),
        "dementia" => band(0.0, 0.0, 0.0, 0.005, 0.04, 0.15),
        "dementia_unspecified" => band(0.0, 0.0, 0.0, 0.002, 0.02, 0.08),
        "stroke" => band(0.0, 0.003, 0.01, 0.02, 0.04, 0.06),
        "osteoporosis" => band(0.0, 0.0, 0.03, 0.10, 0.18, 0.25) * if female { 1.0 } else { 0.2 },
        "gastric_cancer" => {
            band(0.0, 0.001, 0.003, 0.008, 0.012, 0.012) * if female { 0.5 } else { 1.0 }
        }
        "colon_cancer" => band(0.0, 0.001, 0.003, 0.007, 0.010, 0.012),
        "lung_cancer" => {
            band(0.0, 0.0, 0.002, 0.004, 0.007, 0.008) * if female { 0.5 } else { 1.0 }
        }
        "breast_cancer" => {
            band(0.001, 0.006, 0.010, 0.010, 0.008, 0.006) * if female { 1.0 } else { 0.0 }
        }
        "copd" => band(0.0, 0.003, 0.01, 0.03, 0.05, 0.06) * if female { 0.3 } else { 1.0 },
        "depression" => band(0.03, 0.035, 0.03, 0.02, 0.02, 0.02) * if female { 1.3 } else { 0.8 },
        _ => 0.0,
    }
}

/// A condition a person has, from its onset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// Index into [`CONDITIONS`].
    pub condition: usize,
    /// Onset date (the claim's 診療開始日).
    pub onset: NaiveDate,
}

/// Draws a person's diagnoses: conditions held at the start (by prevalence
/// at their age then) and conditions that begin during the period (the
/// prevalence gained over the years they age through). Rare diseases come
/// at `rare_per_100k` persons per 100,000 in all.
pub fn diagnoses(
    rng: &mut impl Rng,
    person: &Person,
    start: NaiveDate,
    end: NaiveDate,
    rare_per_100k: f64,
) -> Vec<Diagnosis> {
    let female = person.sex == Sex::Female;
    let age_at = |d: NaiveDate| crate::population::age_on(person.birth, d);
    let (age_start, age_end) = (age_at(start), age_at(end));
    let last_day = person.death.unwrap_or(end).min(end);
    let span = (last_day - start).num_days().max(1) as u64;
    let rare_count = CONDITIONS.iter().filter(|c| c.rare).count() as f64;
    let mut out = Vec::new();
    for (index, condition) in CONDITIONS.iter().enumerate() {
        let (held, gained) = if condition.rare {
            (rare_per_100k / 100_000.0 / rare_count, 0.0)
        } else {
            let now = prevalence(condition.key, age_start, female);
            let later = prevalence(condition.key, age_end, female);
            (now, ((later - now) / (1.0 - now).max(0.01)).max(0.0))
        };
        if rng.random_bool(held.clamp(0.0, 1.0)) {
            // Diagnosed some years before the start.
            let back = rng.random_range(30..3650u64);
            let onset = (start - Days::new(back)).max(person.birth);
            out.push(Diagnosis {
                condition: index,
                onset,
            });
        } else if rng.random_bool(gained.clamp(0.0, 1.0)) {
            out.push(Diagnosis {
                condition: index,
                onset: start + Days::new(rng.random_range(0..span)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_master_formats() {
        for c in CONDITIONS
            .iter()
            .chain(ACUTE)
            .chain(ADMISSIONS.iter().map(|(c, _, _)| c))
        {
            assert_eq!(c.code.len(), 7, "{}", c.key);
            assert!(c.code.bytes().all(|b| b.is_ascii_digit()));
            assert!(c.icd10.starts_with(|ch: char| ch.is_ascii_uppercase()));
            for d in c.drugs {
                assert_eq!(d.code.len(), 9, "{}", d.name);
            }
        }
        let keys: std::collections::HashSet<&str> = CONDITIONS.iter().map(|c| c.key).collect();
        assert_eq!(keys.len(), CONDITIONS.len());
        assert!(CONDITIONS.iter().filter(|c| c.rare).count() >= 4);
    }

    #[test]
    fn prevalence_rises_with_age_for_hypertension_and_differs_by_sex() {
        assert!(prevalence("hypertension", 75, false) > prevalence("hypertension", 45, false));
        assert!(prevalence("diabetes", 60, false) > prevalence("diabetes", 60, true));
        assert!(prevalence("osteoporosis", 75, true) > prevalence("osteoporosis", 75, false));
        assert_eq!(prevalence("breast_cancer", 60, false), 0.0);
    }
}
