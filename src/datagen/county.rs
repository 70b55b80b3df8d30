//! A Yingkou-like prefecture: six county-level units (2108xx), their towns and
//! a few hundred villages with 12-digit statistical codes (county, town,
//! village). The layout is built from a fixed seed, so it is the same for
//! every run and only the people differ with the user's seed.

use crate::datagen::rng::Rng;

/// Province and prefecture written at the start of every address.
pub const ADDRESS_PREFIX: &str = "辽宁省营口市";

/// The landline area code of Yingkou.
pub const AREA_CODE: &str = "0417";

/// County-level units with their towns (乡镇, 街道).
const UNITS: [(&str, &str, &[&str]); 6] = [
    ("210802", "站前区", &["八田地街道"]),
    ("210803", "西市区", &["五台子街道"]),
    ("210804", "鲅鱼圈区", &["芦屯镇", "红旗镇", "熊岳镇", "九垄地街道", "望儿山镇"]),
    ("210811", "老边区", &["柳树镇", "边城镇", "路南镇"]),
    (
        "210881",
        "盖州市",
        &[
            "双台镇",
            "九寨镇",
            "杨运镇",
            "万福镇",
            "卧龙泉镇",
            "榜式堡镇",
            "归州镇",
            "团甸镇",
            "矿洞沟镇",
            "沙岗镇",
            "青石岭镇",
            "陈屯镇",
        ],
    ),
    (
        "210882",
        "大石桥市",
        &[
            "周家镇",
            "汤池镇",
            "黄土岭镇",
            "博洛铺镇",
            "虎庄镇",
            "水源镇",
            "高坎镇",
            "旗口镇",
            "沟沿镇",
            "建一镇",
            "官屯镇",
        ],
    ),
];

/// Region codes of people born elsewhere in Liaoning who live in the county
/// (their ID numbers keep the birth region).
pub const OTHER_BIRTH_REGIONS: [&str; 5] = ["210102", "210203", "210302", "210381", "211002"];

/// Village names that recur all over the north-east.
const VILLAGE_NAMES: [&str; 40] = [
    "前进",
    "红旗",
    "胜利",
    "东风",
    "新立",
    "永安",
    "太平",
    "光明",
    "和平",
    "团结",
    "建设",
    "幸福",
    "民主",
    "友谊",
    "新华",
    "向阳",
    "黎明",
    "五一",
    "八一",
    "东升",
    "朝阳",
    "大石桥",
    "石桥",
    "兴隆",
    "三家",
    "双井",
    "长兴",
    "靠山",
    "新民",
    "合作",
    "富民",
    "丰收",
    "青山",
    "广福",
    "永乐",
    "红光",
    "共和",
    "大房身",
    "小房身",
    "西柳",
];

/// First parts of place names: family names and directions.
const PLACE_HEADS: [&str; 24] = [
    "王家", "李家", "张家", "刘家", "周家", "孙家", "赵家", "高家", "马家", "何家", "于家", "吕家", "关家", "佟家",
    "东", "西", "南", "北", "前", "后", "大", "小", "上", "下",
];

/// Second parts of place names: landforms and settlement words.
const PLACE_TAILS: [&str; 16] =
    ["堡", "屯", "沟", "岭", "台", "店", "窝堡", "房身", "甸子", "河", "营子", "岗", "岭子", "泡子", "台子", "洼"];

/// One village (村民委员会).
#[derive(Debug, Clone)]
pub struct Village {
    /// 12-digit statistical code: county (6), town (3), village (3).
    pub code: String,
    /// Village name, e.g. 前进村.
    pub name: String,
    /// Index into [`County::units`].
    pub unit: usize,
    /// Town name, e.g. 周家镇.
    pub town: &'static str,
}

/// A county-level unit.
#[derive(Debug, Clone)]
pub struct Unit {
    /// GB/T 2260 code, e.g. 210882.
    pub code: &'static str,
    /// Name, e.g. 大石桥市.
    pub name: &'static str,
}

/// The whole prefecture.
#[derive(Debug, Clone)]
pub struct County {
    /// County-level units.
    pub units: Vec<Unit>,
    /// All villages, in code order.
    pub villages: Vec<Village>,
}

impl County {
    /// Builds the Yingkou-like layout (always the same).
    pub fn yingkou() -> County {
        let mut rng = Rng::new(0x5949_4E47_4B4F_5531); // fixed: the layout never depends on the user's seed
        let units: Vec<Unit> = UNITS.iter().map(|(code, name, _)| Unit { code, name }).collect();
        let mut villages = Vec::new();
        for (unit, (code, _, towns)) in UNITS.iter().enumerate() {
            let urban = towns.len() == 1;
            for (t, town) in towns.iter().enumerate() {
                let count = if urban { 4 } else { rng.between(8, 16) as usize };
                let mut used: Vec<String> = Vec::with_capacity(count);
                while used.len() < count {
                    let stem = if rng.chance(0.4) {
                        rng.pick(&VILLAGE_NAMES).to_owned()
                    } else {
                        format!("{}{}", rng.pick(&PLACE_HEADS), rng.pick(&PLACE_TAILS))
                    };
                    let name = format!("{stem}村");
                    if !used.contains(&name) {
                        used.push(name);
                    }
                }
                for (v, name) in used.into_iter().enumerate() {
                    let code = format!("{code}{:03}{:03}", 100 + t + 1, 200 + v + 1);
                    villages.push(Village { code, name, unit, town });
                }
            }
        }
        County { units, villages }
    }

    /// The unit a village belongs to.
    pub fn unit_of(&self, village: &Village) -> Option<&Unit> {
        self.units.get(village.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CountyCode;

    #[test]
    fn a_few_hundred_villages_with_unique_codes() {
        let county = County::yingkou();
        assert!((200..=600).contains(&county.villages.len()), "{}", county.villages.len());
        let mut codes: Vec<&str> = county.villages.iter().map(|v| v.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), county.villages.len());
        for village in &county.villages {
            assert_eq!(village.code.len(), 12);
            let unit = county.unit_of(village).unwrap();
            assert!(village.code.starts_with(unit.code));
            assert!(CountyCode::parse(unit.code).is_ok());
            assert!(village.name.ends_with('村'));
        }
        // The layout does not depend on anything but the code.
        assert_eq!(County::yingkou().villages.len(), county.villages.len());
    }
}
