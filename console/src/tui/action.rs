//! Actions: the verbs of the console. Keys map to actions through [`crate::tui::keymap`]; a
//! keymap file names only the [`crate::tui::keymap::Bindable`] ones, so an action carrying a
//! confirmed operation or typed input is not deserializable at all.

use crate::rollout::{Color, Share};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave the console (the platform keeps running).
    Quit,
    /// Move focus to the next panel.
    FocusNext,
    /// Move focus to the previous panel.
    FocusPrev,
    /// Open or close the help overlay.
    ToggleHelp,
    /// Show or hide the guide's line (the next sensible action).
    ToggleGuide,
    /// Open the `:` command line.
    OpenCommandLine,
    /// Close the open dialog or prompt without doing anything; in normal mode, reset the
    /// slider to the live weights.
    Cancel,
    /// Ask every poller to refresh now.
    Refresh,

    /// Move the slider by `delta` per mille (0.1% steps) towards the canary (negative: away).
    NudgeSlider {
        delta: i32,
    },
    /// Put the slider at `share` for the canary.
    SetSlider {
        share: Share,
    },
    /// Open the confirm dialog for the slider's weights.
    ApplySlider,
    /// Pause or resume the running release (abort opens a confirm dialog).
    ReleaseRequest {
        request: crate::rollout::release::Request,
    },
    /// Hide the panel of a release that ended, until the next one.
    DismissRelease,
    /// Open the confirm dialog for giving `share` to the canary (`:shift N`), or to a named
    /// color (`:shift --green N`).
    Shift {
        color: Option<Color>,
        share: Share,
    },

    /// Open the promote dialog, with its bake time (default 300 s) and keep-old preset.
    Promote {
        bake_secs: Option<u64>,
        keep_old: bool,
    },
    /// In the promote dialog: change the bake time by `secs`.
    AdjustBake {
        secs: i64,
    },
    /// In the promote dialog: toggle keep-old.
    ToggleKeepOld,
    /// Open the rollback confirm.
    Rollback,
    /// Finish a pending bake (scale the old color to zero unless keep-old).
    FinishBake,
    /// Start a build, optionally of a source version.
    StartBuild {
        source_version: Option<String>,
    },
    /// Deploy a tag to the idle color; with no tag, open the image picker.
    Deploy {
        tag: Option<String>,
    },
    /// Start a release: open the picker (image, then plan).
    OpenRelease,
    /// Open the confirm dialog for a release the command line described.
    Release(Box<crate::rollout::resolve::ReleaseRequest>),
    /// Set a color's desired count (confirming is the command line's job: it names the count).
    Scale {
        color: Color,
        desired: u32,
    },
    /// Arm a read-only profile for this session (`:arm`).
    Arm,

    /// Confirm the open dialog.
    Confirm,
    /// In a confirm dialog: override an overridable guard refusal.
    ToggleForce,
    /// In the finish-bake dialog: scale the old color in even when too few requests were
    /// measured since the promote (`--accept-unmeasured`).
    ToggleAcceptUnmeasured,

    /// Move the selection in the focused list (images, builds, image picker) down.
    SelectNext,
    /// Move the selection up.
    SelectPrev,
    /// Show an older build in the build panel.
    OlderBuild,
    /// Show a newer build.
    NewerBuild,

    /// Scroll the logs towards older lines (pauses following).
    ScrollUp {
        lines: usize,
    },
    /// Scroll the logs towards newer lines (resumes following at the bottom).
    ScrollDown {
        lines: usize,
    },
    /// Jump to the oldest buffered line.
    ScrollTop,
    /// Jump to the newest line and follow.
    ScrollBottom,
    /// Follow new lines, or pause.
    ToggleFollow,
    /// Open the `/` regex filter prompt.
    StartFilter,
    /// Show lines that do not match the filter.
    ToggleInvert,
    ToggleWrap,
    ToggleTimestamps,
    /// Blue and green logs side by side (on a wide enough screen), or interleaved.
    ToggleSplit,
    /// Show one color's lines, or both (`None`).
    ShowColor {
        color: Option<Color>,
    },
    /// Show error lines only.
    ToggleErrorsOnly,

    /// Type a character into the open prompt.
    Input(char),
    /// Delete the last character of the open prompt.
    Backspace,
    /// Submit the open prompt.
    Submit,
    /// Run a command line (what `:` submits), e.g. `shift 30`.
    RunCommand(String),
    /// Open or close the journal view: who changed what, newest last.
    ToggleJournal,
}
