//! A guider chosen at run time (a config file's name), in the style of [`crate::dynamic`].

use super::{
    Apg, Branch, CfgPp, CfgZeroStar, ClassifierFree, Coef, Guidance, Layout, Moments,
    MomentumState, Plan, Space, StepCtx, Tangential,
};
use crate::error::{GdfError, Result};

/// Any guider of [`crate::guidance`], chosen at run time; it computes what the chosen one
/// computes.
///
/// ```
/// use gdf::guidance::{DynGuidance, Guidance};
/// let g = DynGuidance::from_name("AdaptiveProjectedGuidance")?;
/// assert_eq!(g.name(), "AdaptiveProjectedGuidance");
/// assert!(DynGuidance::from_name("NoSuchGuidance").is_err());
/// # Ok::<(), gdf::GdfError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum DynGuidance {
    /// [`ClassifierFree`] (also autoguidance).
    Cfg(ClassifierFree),
    /// [`Apg`].
    Apg(Apg),
    /// [`CfgZeroStar`].
    ZeroStar(CfgZeroStar),
    /// [`Tangential`].
    Tangential(Tangential),
    /// [`CfgPp`].
    CfgPp(CfgPp),
}

macro_rules! from_guider {
    ($($v:ident($t:ty)),*) => {$(
        impl From<$t> for DynGuidance {
            fn from(g: $t) -> Self {
                DynGuidance::$v(g)
            }
        }
    )*};
}
from_guider!(
    Cfg(ClassifierFree),
    Apg(Apg),
    ZeroStar(CfgZeroStar),
    Tangential(Tangential),
    CfgPp(CfgPp)
);

impl DynGuidance {
    /// The guider with default settings named by its diffusers class name
    /// (`ClassifierFreeGuidance`, `AdaptiveProjectedGuidance`,
    /// `ClassifierFreeZeroStarGuidance`, `TangentialClassifierFreeGuidance`) or `Autoguidance`,
    /// `CFG++`. Errors: any other name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "ClassifierFreeGuidance" => Self::Cfg(ClassifierFree::default()),
            "Autoguidance" => Self::Cfg(ClassifierFree {
                branch: Branch::WeakModel,
                ..ClassifierFree::default()
            }),
            "AdaptiveProjectedGuidance" => Self::Apg(Apg::default()),
            "ClassifierFreeZeroStarGuidance" => Self::ZeroStar(CfgZeroStar::default()),
            "TangentialClassifierFreeGuidance" => Self::Tangential(Tangential::default()),
            "CFG++" | "CFGpp" => Self::CfgPp(CfgPp::default()),
            other => {
                return Err(GdfError::Invalid {
                    message: format!(
                        "unknown guider {other:?}, expected one of ClassifierFreeGuidance, \
                         Autoguidance, AdaptiveProjectedGuidance, \
                         ClassifierFreeZeroStarGuidance, TangentialClassifierFreeGuidance, CFG++"
                    ),
                })
            }
        })
    }

    fn inner(&self) -> &dyn Guidance {
        match self {
            Self::Cfg(g) => g,
            Self::Apg(g) => g,
            Self::ZeroStar(g) => g,
            Self::Tangential(g) => g,
            Self::CfgPp(g) => g,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn Guidance {
        match self {
            Self::Cfg(g) => g,
            Self::Apg(g) => g,
            Self::ZeroStar(g) => g,
            Self::Tangential(g) => g,
            Self::CfgPp(g) => g,
        }
    }
}

impl Guidance for DynGuidance {
    fn name(&self) -> &'static str {
        self.inner().name()
    }
    fn space(&self) -> Space {
        self.inner().space()
    }
    fn branch(&self) -> Branch {
        self.inner().branch()
    }
    fn validate(&self) -> Result<()> {
        self.inner().validate()
    }
    fn enabled(&self, ctx: &StepCtx) -> Result<bool> {
        self.inner().enabled(ctx)
    }
    fn num_conditions(&self, ctx: &StepCtx) -> Result<usize> {
        self.inner().num_conditions(ctx)
    }
    fn needs_uncond(&self, ctx: &StepCtx) -> Result<bool> {
        self.inner().needs_uncond(ctx)
    }
    fn linear(&self, ctx: &StepCtx) -> Result<Option<[f64; 2]>> {
        self.inner().linear(ctx)
    }
    fn renoises_with_uncond(&self, ctx: &StepCtx) -> Result<bool> {
        self.inner().renoises_with_uncond(ctx)
    }
    fn plan(&self, ctx: &StepCtx, layout: &Layout) -> Result<Plan> {
        self.inner().plan(ctx, layout)
    }
    fn coefficients(&self, ctx: &StepCtx, plan: &Plan, group: &Moments) -> Coef {
        self.inner().coefficients(ctx, plan, group)
    }
    fn momentum_buffer(&mut self) -> Option<&mut MomentumState> {
        self.inner_mut().momentum_buffer()
    }
}
