//! Personal names: family names, given-name characters, Korean, Mongolian and
//! transliterated (middle-dot) names, and the few simplified characters of
//! names whose traditional form the generator writes for the
//! `name_traditional` case.

use crate::datagen::rng::Rng;

/// Common Han family names, most common first (王 李 张 刘 陈 ...).
pub const HAN_FAMILY: [&str; 100] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马",
    "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧", "程", "曹", "袁", "邓", "许", "傅", "沈", "曾",
    "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛", "叶", "阎", "余", "潘", "杜", "戴", "夏", "钟", "汪",
    "田", "任", "姜", "范", "方", "石", "姚", "谭", "廖", "邹", "熊", "金", "陆", "郝", "孔", "白", "崔", "康", "毛",
    "邱", "秦", "江", "史", "顾", "侯", "邵", "孟", "龙", "万", "段", "雷", "钱", "汤", "尹", "黎", "易", "常", "武",
    "乔", "贺", "赖", "龚", "文",
];

/// Compound family names, rare.
pub const COMPOUND_FAMILY: [&str; 6] = ["欧阳", "司马", "上官", "诸葛", "东方", "慕容"];

/// Family names frequent among Manchu households of Liaoning.
pub const MANCHU_FAMILY: [&str; 14] =
    ["关", "那", "佟", "富", "肇", "鄂", "索", "赫", "吴", "金", "傅", "赵", "白", "宁"];

/// Family names frequent among Hui households (马 far ahead).
pub const HUI_FAMILY: [&str; 10] = ["马", "马", "马", "白", "海", "哈", "沙", "穆", "丁", "杨"];

/// Korean family names.
pub const KOREAN_FAMILY: [&str; 20] = [
    "金", "李", "朴", "崔", "郑", "姜", "赵", "尹", "张", "林", "韩", "申", "权", "许", "玄", "南", "全", "宋", "池",
    "洪",
];

/// Family names taken by Mongolian households of the region.
pub const MONGOL_FAMILY: [&str; 5] = ["包", "白", "韩", "吴", "何"];

/// Given-name characters for men.
pub const MALE_GIVEN: [char; 60] = [
    '伟', '强', '军', '磊', '勇', '杰', '涛', '明', '斌', '超', '刚', '平', '辉', '鹏', '华', '飞', '鑫', '波', '宇',
    '浩', '凯', '健', '俊', '帆', '帅', '旭', '宁', '龙', '林', '国', '建', '成', '志', '海', '峰', '东', '文', '亮',
    '兵', '春', '德', '福', '贵', '宝', '山', '顺', '发', '庆', '义', '长', '进', '达', '卫', '胜', '利', '广', '忠',
    '力', '永', '晓',
];

/// Given-name characters for women.
pub const FEMALE_GIVEN: [char; 50] = [
    '芳', '娜', '敏', '静', '丽', '艳', '娟', '霞', '秀', '英', '华', '玲', '桂', '兰', '红', '梅', '琳', '燕', '萍',
    '洁', '婷', '雪', '颖', '倩', '丹', '慧', '欣', '悦', '婉', '莉', '凤', '玉', '春', '荣', '淑', '珍', '云', '莹',
    '佳', '琪', '秋', '月', '晓', '爱', '宁', '新', '金', '艺', '涵', '萱',
];

/// Korean given names (men).
pub const KOREAN_MALE: [&str; 14] =
    ["哲洙", "成浩", "永哲", "明哲", "光日", "东日", "英男", "龙洙", "相哲", "成日", "昌浩", "泰浩", "俊浩", "正男"];

/// Korean given names (women).
pub const KOREAN_FEMALE: [&str; 14] =
    ["英姬", "美玉", "贞淑", "顺子", "春花", "玉顺", "明淑", "英子", "惠淑", "善姬", "香玉", "丽花", "顺姬", "恩惠"];

/// Mongolian given names (men).
pub const MONGOL_MALE: [&str; 13] = [
    "巴特尔",
    "额尔敦",
    "苏和",
    "那仁",
    "宝音",
    "朝鲁",
    "巴雅尔",
    "特木尔",
    "毕力格",
    "孟和",
    "阿拉坦",
    "胡日查",
    "达来",
];

/// Mongolian given names (women).
pub const MONGOL_FEMALE: [&str; 12] =
    ["其其格", "乌云", "斯琴", "图雅", "萨仁", "高娃", "塔娜", "娜仁花", "托娅", "乌兰", "格日勒", "萨日娜"];

/// Transliterated Uyghur and Kazakh given names (men); also used as the
/// father's name after the middle dot.
pub const DOTTED_MALE: [&str; 12] = [
    "买买提",
    "艾力",
    "吐尔逊",
    "阿不都拉",
    "热合曼",
    "努尔",
    "艾合买提",
    "肉孜",
    "依明",
    "卡德尔",
    "阿卜杜热合曼",
    "艾合麦提江",
];

/// Transliterated Uyghur and Kazakh given names (women).
pub const DOTTED_FEMALE: [&str; 10] =
    ["阿依古丽", "古丽娜尔", "热依拉", "帕提古丽", "米娜", "阿依努尔", "努尔古丽", "再努尔", "迪丽努尔", "古丽巴哈尔"];

/// Name parts used to build the few names longer than the card's 15 ideographs.
pub const LONG_PARTS: [&str; 6] = ["阿卜杜热合曼", "艾合麦提江", "买买提明", "吐尔洪", "克力木江", "阿不都热西提"];

/// Simplified characters of names with their traditional form, as a clerk
/// working from an old Hong Kong or Taiwan document, or with a traditional
/// input method, might type them. Each traditional form converts back to the
/// simplified one (a unit test checks this with `zhconv`).
pub const TRADITIONAL: [(char, char); 58] = [
    ('刘', '劉'),
    ('陈', '陳'),
    ('杨', '楊'),
    ('赵', '趙'),
    ('黄', '黃'),
    ('吴', '吳'),
    ('张', '張'),
    ('孙', '孫'),
    ('马', '馬'),
    ('郑', '鄭'),
    ('冯', '馮'),
    ('韩', '韓'),
    ('邓', '鄧'),
    ('许', '許'),
    ('谢', '謝'),
    ('罗', '羅'),
    ('卢', '盧'),
    ('蒋', '蔣'),
    ('贾', '賈'),
    ('钱', '錢'),
    ('阎', '閻'),
    ('苏', '蘇'),
    ('叶', '葉'),
    ('晓', '曉'),
    ('汤', '湯'),
    ('龚', '龔'),
    ('赖', '賴'),
    ('国', '國'),
    ('华', '華'),
    ('军', '軍'),
    ('丽', '麗'),
    ('红', '紅'),
    ('东', '東'),
    ('伟', '偉'),
    ('兰', '蘭'),
    ('凤', '鳳'),
    ('龙', '龍'),
    ('强', '強'),
    ('涛', '濤'),
    ('辉', '輝'),
    ('鹏', '鵬'),
    ('飞', '飛'),
    ('宝', '寶'),
    ('贵', '貴'),
    ('庆', '慶'),
    ('艳', '艷'),
    ('洁', '潔'),
    ('颖', '穎'),
    ('荣', '榮'),
    ('莹', '瑩'),
    ('广', '廣'),
    ('长', '長'),
    ('凯', '凱'),
    ('宁', '寧'),
    ('帅', '帥'),
    ('顺', '順'),
    ('进', '進'),
    ('买', '買'),
];

/// The traditional form of a simplified name character, if the table has one.
pub fn traditional_of(c: char) -> Option<char> {
    TRADITIONAL.iter().find(|(s, _)| *s == c).map(|(_, t)| *t)
}

/// Whether `c` is the traditional form of some simplified character in the table.
pub fn is_traditional_form(c: char) -> bool {
    TRADITIONAL.iter().any(|(_, t)| *t == c)
}

/// How a household's members are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStyle {
    /// Family name plus one or two given characters (Han, Manchu, Hui, Xibe, ...).
    Han,
    /// Korean family name plus a two-character Korean given name.
    Korean,
    /// Family name plus a Mongolian given name.
    Mongol,
    /// Given name, middle dot, the household's shared name (阿依古丽·买买提).
    Dotted,
}

/// A household's family name for its style.
pub fn family_name(rng: &mut Rng, style: NameStyle, ethnicity: u8) -> String {
    match style {
        NameStyle::Han => {
            if rng.chance(0.003) {
                return rng.pick(&COMPOUND_FAMILY).to_owned();
            }
            let name = match ethnicity {
                11 if rng.chance(0.5) => rng.pick(&MANCHU_FAMILY),
                3 if rng.chance(0.7) => rng.pick(&HUI_FAMILY),
                _ => rng.pick_skewed(&HAN_FAMILY),
            };
            name.to_owned()
        }
        NameStyle::Korean => rng.pick_skewed(&KOREAN_FAMILY).to_owned(),
        NameStyle::Mongol => rng.pick(&MONGOL_FAMILY).to_owned(),
        NameStyle::Dotted => rng.pick(&DOTTED_MALE).to_owned(),
    }
}

/// A full name for one member of a household with the given family name.
/// `long` asks for a name of more than 15 ideographs (dotted style only).
pub fn full_name(rng: &mut Rng, style: NameStyle, family: &str, male: bool, long: bool) -> String {
    match style {
        NameStyle::Han => {
            let pool: &[char] = if male { &MALE_GIVEN } else { &FEMALE_GIVEN };
            let mut name = String::with_capacity(12);
            name.push_str(family);
            let count = if rng.chance(0.25) { 1 } else { 2 };
            for _ in 0..count {
                if let Some(c) = pool.get(rng.index(pool.len())) {
                    name.push(*c);
                }
            }
            name
        }
        NameStyle::Korean => {
            let given = if male { rng.pick(&KOREAN_MALE) } else { rng.pick(&KOREAN_FEMALE) };
            format!("{family}{given}")
        }
        NameStyle::Mongol => {
            let given = if male { rng.pick(&MONGOL_MALE) } else { rng.pick(&MONGOL_FEMALE) };
            format!("{family}{given}")
        }
        NameStyle::Dotted if long => {
            // Parts of 2 to 6 ideographs until there are more than 15: at most
            // 15 + 6 ideographs and 6 dots, within the 30 characters of a name.
            let mut parts: Vec<&str> = Vec::with_capacity(6);
            parts.push(if male { rng.pick(&LONG_PARTS) } else { rng.pick(&DOTTED_FEMALE) });
            let mut ideographs = parts.iter().chain([&family]).map(|p| p.chars().count()).sum::<usize>();
            while ideographs <= 15 {
                let part = rng.pick(&LONG_PARTS);
                if parts.contains(&part) || part == family {
                    continue;
                }
                parts.push(part);
                ideographs += part.chars().count();
            }
            parts.push(family);
            parts.join("·")
        }
        NameStyle::Dotted => {
            let given = if male { rng.pick(&DOTTED_MALE) } else { rng.pick(&DOTTED_FEMALE) };
            format!("{given}·{family}")
        }
    }
}

/// A name with one character changed to another common name character (a
/// typing error). Never touches a middle dot and never yields the
/// traditional form of the original character, which would count as equal.
pub fn typo(rng: &mut Rng, name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let positions: Vec<usize> = chars.iter().enumerate().filter(|(_, c)| **c != '·').map(|(i, _)| i).skip(1).collect();
    let position = positions.get(rng.index(positions.len())).copied().unwrap_or(0);
    let original = chars.get(position).copied().unwrap_or('王');
    let mut replacement = rng.pick(&MALE_GIVEN);
    while replacement == original || traditional_of(original) == Some(replacement) {
        replacement = rng.pick(&FEMALE_GIVEN);
    }
    chars.iter().enumerate().map(|(i, c)| if i == position { replacement } else { *c }).collect()
}

/// The name written with traditional characters where the table has them, or
/// `None` if no character of the name has a traditional form.
pub fn to_traditional(name: &str) -> Option<String> {
    let converted: String = name.chars().map(|c| traditional_of(c).unwrap_or(c)).collect();
    (converted != name).then_some(converted)
}

/// Makes sure a name has a character with a traditional form, by replacing
/// its last ideograph with one from the table if needed (for a
/// `name_traditional` record; the register then holds the adjusted name).
pub fn ensure_traditional_candidate(rng: &mut Rng, name: &mut String) {
    if to_traditional(name).is_some() {
        return;
    }
    let (simplified, _) = rng.pick(&TRADITIONAL);
    if let Some(last) = name.chars().last() {
        name.truncate(name.len() - last.len_utf8());
    }
    name.push(simplified);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PersonName;

    #[test]
    fn every_traditional_form_converts_back_to_its_simplified_character() {
        let wrong: Vec<(char, String)> = TRADITIONAL
            .iter()
            .map(|(s, t)| (*s, zhconv::zhconv(&t.to_string(), zhconv::Variant::ZhHans)))
            .filter(|(s, back)| *back != s.to_string())
            .collect();
        assert!(wrong.is_empty(), "{wrong:?}");
        assert!(TRADITIONAL.iter().all(|(s, t)| s != t));
    }

    #[test]
    fn generated_names_are_valid_person_names() {
        let mut rng = Rng::new(3);
        for style in [NameStyle::Han, NameStyle::Korean, NameStyle::Mongol, NameStyle::Dotted] {
            for i in 0..500 {
                let family = family_name(&mut rng, style, 1);
                let long = style == NameStyle::Dotted && i % 2 == 0;
                let name = full_name(&mut rng, style, &family, i % 2 == 0, long);
                let parsed = PersonName::parse(&name).unwrap();
                assert_eq!(parsed.name().as_str(), name);
                assert_eq!(parsed.truncated_on_card(), long, "{name}");
                let typo = typo(&mut rng, &name);
                assert_ne!(typo, name);
                assert_eq!(typo.chars().count(), name.chars().count());
                assert!(PersonName::parse(&typo).is_ok());
            }
        }
    }

    #[test]
    fn traditional_candidates() {
        let mut rng = Rng::new(5);
        let mut name = "王小明".to_owned();
        assert_eq!(to_traditional(&name), None);
        ensure_traditional_candidate(&mut rng, &mut name);
        assert!(name.starts_with("王小"));
        assert!(to_traditional(&name).is_some());
        assert_eq!(to_traditional("刘国华").as_deref(), Some("劉國華"));
    }
}
