//! Named fault switches: each is on in the broken shop and off in the fixed one, flips at runtime, and every flip
//! deploys a new version of the service that owns it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use serde::Serialize;

/// The named states the whole shop can start in, as in the workshop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ShopState {
    /// Every fault on, and no telemetry at all: the shop before the workshop starts.
    BrokenNoInstrumentation,
    /// Every fault on, instrumented: what students investigate.
    #[default]
    Broken,
    /// Every fault off.
    Fixed,
}

impl ShopState {
    pub const ALL: [ShopState; 3] = [
        ShopState::BrokenNoInstrumentation,
        ShopState::Broken,
        ShopState::Fixed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShopState::BrokenNoInstrumentation => "broken-no-instrumentation",
            ShopState::Broken => "broken",
            ShopState::Fixed => "fixed",
        }
    }

    /// Whether the faults start switched on.
    pub fn faults_on(self) -> bool {
        !matches!(self, ShopState::Fixed)
    }

    /// Whether the services emit telemetry in this state.
    pub fn instrumented(self) -> bool {
        !matches!(self, ShopState::BrokenNoInstrumentation)
    }
}

impl fmt::Display for ShopState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ShopState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShopState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                format!("unknown state {s:?}: expected broken, broken-no-instrumentation or fixed")
            })
    }
}

/// Which of the equivalent versions of each fault the shop runs (`lab workshop --variant N`), so that students
/// beside each other find different answers: which pages lack their ad (and where the misplaced banner call
/// sits), how long each slow service sleeps, which relation the N+1 walks. Every variant's broken code is in
/// the source behind the same named switch. Variant 0 is the original workshop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Variant(u8);

impl Variant {
    /// How many variants there are: 0 to `COUNT - 1`.
    pub const COUNT: u8 = 3;
    /// The original workshop.
    pub const ORIGINAL: Variant = Variant(0);

    /// Variant `n`, if there is one.
    pub fn new(n: u32) -> Option<Variant> {
        u8::try_from(n)
            .ok()
            .filter(|n| *n < Variant::COUNT)
            .map(Variant)
    }

    /// The variant a student's name picks (the same name, the same variant, on every machine).
    pub fn of_name(name: &str) -> Variant {
        // FNV-1a over the trimmed, lower-cased name: stable across runs and platforms, unlike std's hasher.
        let hash = (name.trim().to_lowercase().bytes()).fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Variant((hash % u64::from(Variant::COUNT)) as u8)
    }

    pub fn number(self) -> u32 {
        u32::from(self.0)
    }

    /// Picks the variant's own of `choices` (one per variant).
    pub fn pick<T: Copy>(self, choices: [T; Variant::COUNT as usize]) -> T {
        choices[usize::from(self.0)]
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<u32>().ok().and_then(Variant::new).ok_or_else(|| {
            format!(
                "unknown variant {s:?}: expected 0 to {} (0 is the original workshop)",
                Variant::COUNT - 1
            )
        })
    }
}

/// A fault a service knows about: its name (`<service>.<fault>`) and what it breaks.
#[derive(Clone, Copy, Debug)]
pub struct FaultSpec {
    pub name: &'static str,
    pub description: &'static str,
}

/// The fault switches and the deployed version of one service. Cheap to clone; clones share the switches.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Inner>,
}

struct Inner {
    service: &'static str,
    variant: Variant,
    switches: Vec<(FaultSpec, AtomicBool)>,
    /// Minor version: starts at the number of faults fixed at start, and rises by one with every flip.
    minor: AtomicU32,
}

/// Asked to flip a fault this service does not have.
#[derive(Debug, thiserror::Error)]
#[error("unknown fault {name:?} for {service}; known: {known}")]
pub struct UnknownFault {
    pub name: String,
    pub service: &'static str,
    pub known: String,
}

/// One fault as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FaultStatus {
    pub name: &'static str,
    pub broken: bool,
    pub description: &'static str,
}

impl Faults {
    /// The switches of `service`, all on (`broken`) or all off.
    pub fn new(service: &'static str, specs: &[FaultSpec], broken: bool) -> Faults {
        Faults::new_variant(service, specs, broken, Variant::ORIGINAL)
    }

    /// The same, each fault broken the way `variant` breaks it.
    pub fn new_variant(
        service: &'static str,
        specs: &[FaultSpec],
        broken: bool,
        variant: Variant,
    ) -> Faults {
        let minor = if broken { 0 } else { specs.len() as u32 };
        Faults {
            inner: Arc::new(Inner {
                service,
                variant,
                switches: specs
                    .iter()
                    .map(|spec| (*spec, AtomicBool::new(broken)))
                    .collect(),
                minor: AtomicU32::new(minor),
            }),
        }
    }

    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// Which version of each fault this service runs.
    pub fn variant(&self) -> Variant {
        self.inner.variant
    }

    /// The deployed version, `1.<n>`: 1.0 is the broken shop, and every flip deploys the next minor version.
    pub fn version(&self) -> String {
        format!("1.{}", self.inner.minor.load(Ordering::Acquire))
    }

    /// How many deployments since the shop started: changes exactly when [`Faults::version`] does.
    pub fn generation(&self) -> u32 {
        self.inner.minor.load(Ordering::Acquire)
    }

    /// Whether the named fault is switched on. Panics on a name the service did not declare: that is a bug in
    /// the service's code, not input.
    pub fn is_on(&self, name: &str) -> bool {
        self.switch(name)
            .unwrap_or_else(|| panic!("{} has no fault {name:?}", self.inner.service))
            .load(Ordering::Acquire)
    }

    /// Switches the fault on (`broken`) or off; a change deploys a new version. Returns whether it changed.
    pub fn set(&self, name: &str, broken: bool) -> Result<bool, UnknownFault> {
        let switch = self.switch(name).ok_or_else(|| UnknownFault {
            name: name.to_owned(),
            service: self.inner.service,
            known: self.names().join(", "),
        })?;
        let changed = switch.swap(broken, Ordering::AcqRel) != broken;
        if changed {
            self.inner.minor.fetch_add(1, Ordering::AcqRel);
            tracing::info!(
                service = self.inner.service,
                fault = name,
                broken,
                version = %self.version(),
                "fault flipped: new version deployed"
            );
        }
        Ok(changed)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.inner
            .switches
            .iter()
            .map(|(spec, _)| spec.name)
            .collect()
    }

    pub fn statuses(&self) -> Vec<FaultStatus> {
        self.inner
            .switches
            .iter()
            .map(|(spec, on)| FaultStatus {
                name: spec.name,
                broken: on.load(Ordering::Acquire),
                description: spec.description,
            })
            .collect()
    }

    fn switch(&self, name: &str) -> Option<&AtomicBool> {
        self.inner
            .switches
            .iter()
            .find(|(spec, _)| spec.name == name)
            .map(|(_, on)| on)
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("service", &self.inner.service)
            .field("variant", &self.inner.variant)
            .field("version", &self.version())
            .field("faults", &self.statuses())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn variants_parse_and_a_name_always_picks_the_same_one() {
        assert_eq!("0".parse::<Variant>(), Ok(Variant::ORIGINAL));
        assert_eq!("2".parse::<Variant>().map(Variant::number), Ok(2));
        for bad in ["3", "-1", "x", ""] {
            let refused = bad.parse::<Variant>().unwrap_err();
            assert!(refused.contains("0 to 2"), "{bad:?}: {refused}");
        }
        // Stable across runs and machines (FNV-1a), whatever the case or spaces.
        assert_eq!(Variant::of_name("Ada"), Variant::of_name(" ada "));
        let picked: Vec<u32> = ["ada", "bob", "cy", "dee", "eve", "fay"]
            .iter()
            .map(|n| Variant::of_name(n).number())
            .collect();
        assert_eq!(picked, [1, 0, 0, 0, 1, 0]);
        let faults = Faults::new_variant("x", SPECS, true, Variant::new(1).unwrap());
        assert_eq!(faults.variant().number(), 1);
        assert_eq!(Faults::new("x", SPECS, true).variant(), Variant::ORIGINAL);
    }

    use super::*;

    const SPECS: &[FaultSpec] = &[
        FaultSpec {
            name: "x.sleep",
            description: "sleeps",
        },
        FaultSpec {
            name: "x.n-plus-one",
            description: "n+1",
        },
    ];

    #[test]
    fn every_flip_deploys_a_new_version() {
        let faults = Faults::new("x", SPECS, true);
        assert_eq!(faults.version(), "1.0");
        assert!(faults.is_on("x.sleep"));
        assert!(faults.set("x.sleep", false).unwrap());
        assert_eq!(faults.version(), "1.1");
        assert!(!faults.is_on("x.sleep"));
        assert!(
            !faults.set("x.sleep", false).unwrap(),
            "no change, no deployment"
        );
        assert_eq!(faults.version(), "1.1");
        assert!(faults.set("x.sleep", true).unwrap());
        assert_eq!(faults.version(), "1.2");
    }

    #[test]
    fn the_fixed_shop_starts_past_its_fixes() {
        let faults = Faults::new("x", SPECS, false);
        assert_eq!(faults.version(), "1.2");
        assert!(!faults.is_on("x.n-plus-one"));
    }

    #[test]
    fn unknown_faults_are_named_in_the_error() {
        let faults = Faults::new("x", SPECS, true);
        let err = faults.set("x.nope", false).unwrap_err().to_string();
        assert!(
            err.contains("x.nope") && err.contains("x.sleep, x.n-plus-one"),
            "{err}"
        );
    }

    #[test]
    fn states_parse_from_their_names() {
        for state in ShopState::ALL {
            assert_eq!(state.as_str().parse::<ShopState>().unwrap(), state);
        }
        assert!("kaputt".parse::<ShopState>().is_err());
        assert!(ShopState::Broken.faults_on() && ShopState::Broken.instrumented());
        assert!(!ShopState::BrokenNoInstrumentation.instrumented());
        assert!(!ShopState::Fixed.faults_on());
    }
}
