//! What every state machine of the service shares (DOMAIN.md section 4): a state's
//! name is its wire and stored text, unknown text is a typed error, and a move from
//! one state to another is allowed by the machine's one table or refused with a
//! stable code. Each machine is an enum defined with [`states!`]; its table lives
//! next to it.

use std::fmt;

/// Stored or received text that names no state of the machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {machine} state {text:?}")]
pub struct UnknownState {
    pub machine: &'static str,
    pub text: String,
}

impl UnknownState {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        "unknown_state"
    }
}

/// A state machine: its states, and which moves between them are allowed.
pub trait StateMachine: Copy + Eq + fmt::Debug + fmt::Display + 'static {
    /// What the machine is the life of, in messages ("record", "batch").
    const MACHINE: &'static str;
    /// The stable code of a refused move.
    const REFUSED: &'static str;

    /// Every state, in the order of the machine's description.
    fn states() -> &'static [Self];

    /// Whether the machine moves from `self` to `to`.
    fn allows(self, to: Self) -> bool;

    /// The move from `self` to `to`, or why it is refused.
    fn transition(self, to: Self) -> Result<Transition<Self>, TransitionRefused<Self>> {
        if self.allows(to) { Ok(Transition { from: self, to }) } else { Err(TransitionRefused { from: self, to }) }
    }
}

/// A move the machine allows. Only [`StateMachine::transition`] makes one, so storage
/// functions that take one cannot be asked for a move outside the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition<S> {
    from: S,
    to: S,
}

impl<S: Copy> Transition<S> {
    pub fn from(&self) -> S {
        self.from
    }

    pub fn to(&self) -> S {
        self.to
    }
}

/// A move the machine does not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {machine} that is {from} cannot become {to}", machine = S::MACHINE)]
pub struct TransitionRefused<S: StateMachine> {
    pub from: S,
    pub to: S,
}

impl<S: StateMachine> TransitionRefused<S> {
    /// The stable code (the machine's [`StateMachine::REFUSED`]).
    pub fn code(&self) -> &'static str {
        S::REFUSED
    }
}

/// Defines a state enum whose variants are named by their wire and stored text: the
/// enum, `ALL`, `as_str`, `Display`, `FromStr` (to [`UnknownState`]) and serde as that
/// text, so the names are written once.
macro_rules! states {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $machine:literal {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::state::UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::domain::state::UnknownState { machine: $machine, text: s.to_string() }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use states;

/// Implements [`StateMachine`] for a state enum from its table of allowed moves.
macro_rules! machine {
    ($name:ident, $machine:literal, $refused:literal, $table:expr) => {
        impl $crate::domain::state::StateMachine for $name {
            const MACHINE: &'static str = $machine;
            const REFUSED: &'static str = $refused;

            fn states() -> &'static [Self] {
                &$name::ALL
            }

            fn allows(self, to: Self) -> bool {
                $table.contains(&(self, to))
            }
        }
    };
}
pub(crate) use machine;

/// Test helper: walks every pair of states of `S` against `allowed`, the moves the
/// machine's description allows written as `"from -> to"`; each allowed move must
/// succeed and every other be refused with the machine's code.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) fn walk_every_pair<S>(allowed: &[&str])
where
    S: StateMachine + std::str::FromStr,
    <S as std::str::FromStr>::Err: fmt::Debug,
{
    let allowed: Vec<(S, S)> = allowed
        .iter()
        .map(|line| {
            let (from, to) = line.split_once(" -> ").expect("a move is written `from -> to`");
            (from.parse().unwrap(), to.parse().unwrap())
        })
        .collect();
    for &from in S::states() {
        for &to in S::states() {
            match from.transition(to) {
                Ok(t) => {
                    assert!(allowed.contains(&(from, to)), "{} {from} -> {to} is allowed", S::MACHINE);
                    assert_eq!((t.from(), t.to()), (from, to));
                }
                Err(e) => {
                    assert!(!allowed.contains(&(from, to)), "{} {from} -> {to} is refused", S::MACHINE);
                    assert_eq!((e.from, e.to), (from, to));
                    assert_eq!(e.code(), S::REFUSED);
                    assert_eq!(e.to_string(), format!("a {} that is {from} cannot become {to}", S::MACHINE));
                }
            }
        }
    }
}

/// Test helper: every state round-trips through its name and its serde text, and
/// unknown text is refused.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) fn round_trip_every_state<S>()
where
    S: StateMachine + std::str::FromStr<Err = UnknownState> + serde::Serialize + serde::de::DeserializeOwned,
{
    for &s in S::states() {
        let name = s.to_string();
        assert_eq!(name.parse::<S>().unwrap(), s);
        assert_eq!(crate::domain::serialized(&s), name);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<S>(&json).unwrap(), s);
    }
    let e = "no such state".parse::<S>().unwrap_err();
    assert_eq!(e, UnknownState { machine: S::MACHINE, text: "no such state".into() });
    assert_eq!(e.code(), "unknown_state");
    assert!(serde_json::from_str::<S>("\"no such state\"").is_err());
}
