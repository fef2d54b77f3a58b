//! The actions a keymap file may bind. Dialog and prompt actions, and those that carry a
//! choice made elsewhere (a confirmed operation, a typed command, a scale count), are not
//! here, so a file naming them fails to parse with serde's "unknown variant" error.

use serde::{Deserialize, Serialize};

use crate::rollout::{Color, Share};
use crate::tui::action::Action;

/// A whole percentage as a slider position (the digit keys).
fn pct(p: u8) -> Share {
    Share::percent(p).unwrap_or(Share::ALL)
}

/// Lines a page-up/down scrolls the logs.
const PAGE: usize = 10;

macro_rules! bindable {
    ($($(#[$attr:meta])* $variant:ident => $action:expr,)*) => {
        /// A main-screen action a keymap file may bind, by its kebab-case name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Bindable {
            $($(#[$attr])* $variant,)*
        }

        impl Bindable {
            /// Every bindable action, in the order the runbook lists them.
            pub const ALL: &[Bindable] = &[$(Bindable::$variant,)*];

            pub fn action(self) -> Action {
                match self {
                    $(Bindable::$variant => $action,)*
                }
            }
        }
    };
}

bindable! {
    SliderDown => Action::NudgeSlider { delta: -50 },
    SliderUp => Action::NudgeSlider { delta: 50 },
    #[serde(rename = "slider-down-1")]
    SliderDown1 => Action::NudgeSlider { delta: -10 },
    #[serde(rename = "slider-up-1")]
    SliderUp1 => Action::NudgeSlider { delta: 10 },
    /// The fine step: 0.1%, the finest split an ALB takes.
    SliderDownFine => Action::NudgeSlider { delta: -1 },
    SliderUpFine => Action::NudgeSlider { delta: 1 },
    #[serde(rename = "slider-0")]
    Slider0 => Action::SetSlider { share: pct(0) },
    #[serde(rename = "slider-10")]
    Slider10 => Action::SetSlider { share: pct(10) },
    #[serde(rename = "slider-20")]
    Slider20 => Action::SetSlider { share: pct(20) },
    #[serde(rename = "slider-30")]
    Slider30 => Action::SetSlider { share: pct(30) },
    #[serde(rename = "slider-40")]
    Slider40 => Action::SetSlider { share: pct(40) },
    #[serde(rename = "slider-50")]
    Slider50 => Action::SetSlider { share: pct(50) },
    #[serde(rename = "slider-60")]
    Slider60 => Action::SetSlider { share: pct(60) },
    #[serde(rename = "slider-70")]
    Slider70 => Action::SetSlider { share: pct(70) },
    #[serde(rename = "slider-80")]
    Slider80 => Action::SetSlider { share: pct(80) },
    #[serde(rename = "slider-90")]
    Slider90 => Action::SetSlider { share: pct(90) },
    #[serde(rename = "slider-100")]
    Slider100 => Action::SetSlider { share: pct(100) },
    ApplySlider => Action::ApplySlider,
    Cancel => Action::Cancel,
    Promote => Action::Promote { bake_secs: None, keep_old: false },
    Rollback => Action::Rollback,
    FinishBake => Action::FinishBake,
    StartBuild => Action::StartBuild { source_version: None },
    Deploy => Action::Deploy { tag: None },
    StartRelease => Action::OpenRelease,
    OlderBuild => Action::OlderBuild,
    NewerBuild => Action::NewerBuild,
    ToggleFollow => Action::ToggleFollow,
    StartFilter => Action::StartFilter,
    ToggleInvert => Action::ToggleInvert,
    ToggleWrap => Action::ToggleWrap,
    ToggleTimestamps => Action::ToggleTimestamps,
    ToggleSplit => Action::ToggleSplit,
    ShowBlue => Action::ShowColor { color: Some(Color::Blue) },
    ShowGreen => Action::ShowColor { color: Some(Color::Green) },
    ShowAll => Action::ShowColor { color: None },
    ToggleErrorsOnly => Action::ToggleErrorsOnly,
    PageUp => Action::ScrollUp { lines: PAGE },
    PageDown => Action::ScrollDown { lines: PAGE },
    ScrollTop => Action::ScrollTop,
    ScrollBottom => Action::ScrollBottom,
    SelectPrev => Action::SelectPrev,
    SelectNext => Action::SelectNext,
    FocusNext => Action::FocusNext,
    FocusPrev => Action::FocusPrev,
    OpenCommandLine => Action::OpenCommandLine,
    Refresh => Action::Refresh,
    ToggleHelp => Action::ToggleHelp,
    ToggleGuide => Action::ToggleGuide,
    Quit => Action::Quit,
    ToggleJournal => Action::ToggleJournal,
}

impl From<Bindable> for Action {
    fn from(b: Bindable) -> Action {
        b.action()
    }
}
