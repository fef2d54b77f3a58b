use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::file::parse;
use super::*;
use crate::tui::fixtures;

fn key(name: &str) -> Key {
    name.parse().expect("a key name")
}

fn press(keymap: &Keymap, state: &State, code: KeyCode, mods: KeyModifiers) -> Option<Action> {
    keymap.action_for(state, KeyEvent::new(code, mods))
}

fn parse_err(text: &str) -> String {
    parse(Path::new("/cfg/keymap.toml"), text)
        .expect_err("refused")
        .to_string()
}

#[test]
fn key_names() {
    assert_eq!(key("ctrl-r"), Key::ctrl('r'));
    assert_eq!(
        key("Ctrl+R"),
        Key::new(KeyCode::Char('R'), KeyModifiers::CONTROL)
    );
    assert_eq!(key("ctrl-shift-r"), key("ctrl-R"));
    assert_eq!(key("shift-g"), Key::ch('G'));
    assert_eq!(key("G"), Key::ch('G'));
    assert_eq!(key("shift-tab"), Key::plain(KeyCode::BackTab));
    assert_eq!(
        key("shift-left"),
        Key::new(KeyCode::Left, KeyModifiers::SHIFT)
    );
    assert_eq!(
        key("alt-x"),
        Key::new(KeyCode::Char('x'), KeyModifiers::ALT)
    );
    assert_eq!(key("F5"), Key::plain(KeyCode::F(5)));
    assert_eq!(key("f12"), Key::plain(KeyCode::F(12)));
    assert_eq!(key("Enter"), Key::plain(KeyCode::Enter));
    assert_eq!(key("escape"), Key::plain(KeyCode::Esc));
    assert_eq!(key("pgup"), Key::plain(KeyCode::PageUp));
    assert_eq!(key("space"), Key::ch(' '));
    assert_eq!(key("-"), Key::ch('-'));
    assert_eq!(key("+"), Key::ch('+'));
    assert_eq!(key("ctrl--"), Key::ctrl('-'));
    assert_eq!(key("f"), Key::ch('f'));
    for bad in [
        "", "ctrl-", "hyper-x", "enterr", "f25", "shift-1", "ctrl-xy",
    ] {
        assert!(bad.parse::<Key>().is_err(), "{bad:?} is refused");
    }
    // What a terminal sends: shift is in an upper-case character already.
    assert_eq!(
        Key::from(KeyEvent::new(KeyCode::Char('H'), KeyModifiers::SHIFT)),
        Key::ch('H')
    );
    assert_eq!(
        Key::from(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
        Key::plain(KeyCode::BackTab)
    );
    // Names written back as the help shows them.
    for (name, shown) in [
        ("ctrl-r", "ctrl-r"),
        ("enter", "⏎"),
        ("left", "←"),
        ("shift-tab", "shift-tab"),
        ("pagedown", "PgDn"),
        ("f5", "F5"),
        ("alt-shift-up", "alt-shift-↑"),
        ("esc", "esc"),
    ] {
        assert_eq!(key(name).to_string(), shown);
    }
}

#[test]
fn defaults_reach_every_bindable_action_and_bind_no_key_twice() {
    let km = Keymap::default();
    for b in Bindable::ALL {
        let a = b.action();
        assert!(
            km.normal
                .rows
                .iter()
                .flat_map(|r| &r.bindings)
                .any(|x| x.action == a),
            "{b:?} has a default key"
        );
    }
    for (name, ctx) in [
        ("normal", &km.normal),
        ("help", &km.help),
        ("confirm", &km.confirm),
        ("pick", &km.pick_image),
    ] {
        let keys: Vec<Key> = ctx
            .rows
            .iter()
            .flat_map(|r| &r.bindings)
            .map(|b| b.key)
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(k), "{name}: {k} is bound twice");
        }
    }
    // Every action the main screen's default keys give is bindable, so a file can move it.
    let bindable: Vec<Action> = Bindable::ALL.iter().map(|b| b.action()).collect();
    for b in km.normal.rows.iter().flat_map(|r| &r.bindings) {
        assert!(bindable.contains(&b.action), "{:?} is bindable", b.action);
    }
}

#[test]
fn default_keys_are_todays() {
    let km = Keymap::default();
    let mut s = fixtures::healthy_blue_live();
    let none = KeyModifiers::NONE;
    let ch = |c| KeyCode::Char(c);
    assert_eq!(
        press(&km, &s, ch('r'), KeyModifiers::CONTROL),
        Some(Action::Refresh)
    );
    assert_eq!(press(&km, &s, ch('q'), KeyModifiers::CONTROL), None);
    assert_eq!(
        press(&km, &s, ch('q'), KeyModifiers::ALT),
        Some(Action::Quit)
    );
    assert_eq!(
        press(&km, &s, KeyCode::Left, KeyModifiers::SHIFT),
        Some(Action::NudgeSlider { delta: -50 })
    );
    assert_eq!(
        press(&km, &s, ch('7'), none),
        Some(Action::SetSlider {
            share: crate::rollout::Share::percent(70).expect("valid")
        })
    );
    assert_eq!(press(&km, &s, KeyCode::Home, none), None);
    s.focus = Focus::Logs;
    assert_eq!(press(&km, &s, KeyCode::Home, none), Some(Action::ScrollTop));
    assert_eq!(
        press(&km, &s, ch('c'), KeyModifiers::CONTROL),
        Some(Action::Quit)
    );
    s.mode = Mode::Help;
    assert_eq!(press(&km, &s, ch('x'), none), Some(Action::ToggleHelp));
    assert_eq!(press(&km, &s, ch('q'), none), Some(Action::Quit));
    s.mode = Mode::Command {
        input: String::new(),
    };
    assert_eq!(press(&km, &s, ch('q'), none), Some(Action::Input('q')));
    assert_eq!(press(&km, &s, KeyCode::Esc, none), Some(Action::Cancel));
}

#[test]
fn help_labels_from_the_table() {
    let help = Keymap::default().help();
    let labels: Vec<(&str, String)> = help
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|(k, what)| (*what, k.clone())))
        .collect();
    let label = |what: &str| {
        labels
            .iter()
            .find(|(w, _)| *w == what)
            .map(|(_, k)| k.as_str())
            .expect("a help row")
    };
    assert_eq!(label("slider ±5 points for the canary"), "←/→ h/l");
    assert_eq!(label("slider to 0-90%, 100%"), "0-9/G )");
    assert_eq!(label("refresh now"), "ctrl-r F5");
    assert_eq!(label("quit"), "q ctrl-c");
    assert_eq!(label("focus"), "tab/shift-tab");
    assert_eq!(label("blue, green, all"), "b/g/a");
}

#[test]
fn a_file_rebinds_and_wins_over_a_default() {
    let km = parse(
        Path::new("keymap.toml"),
        "[keys]\n\"ctrl-r\" = \"rollback\"\n\"x\" = \"refresh\"\n\"P\" = \"promote\"\n\"p\" = \"quit\"\n",
    )
    .expect("parses");
    let s = fixtures::healthy_blue_live();
    let none = KeyModifiers::NONE;
    assert_eq!(
        press(&km, &s, KeyCode::Char('r'), KeyModifiers::CONTROL),
        Some(Action::Rollback)
    );
    assert_eq!(
        press(&km, &s, KeyCode::Char('r'), none),
        Some(Action::Rollback)
    );
    assert_eq!(
        press(&km, &s, KeyCode::Char('x'), none),
        Some(Action::Refresh)
    );
    assert_eq!(
        press(&km, &s, KeyCode::F(5), none),
        Some(Action::Refresh),
        "the other default key stays"
    );
    assert_eq!(press(&km, &s, KeyCode::Char('p'), none), Some(Action::Quit));
    assert!(matches!(
        press(&km, &s, KeyCode::Char('P'), KeyModifiers::SHIFT),
        Some(Action::Promote { .. })
    ));
    let hints = km.hints(&s);
    assert!(hints.contains(&("P".into(), "promote")), "{hints:?}");
    assert!(hints.contains(&("q".into(), "quit")), "{hints:?}");
    let help = km.help();
    let rows: Vec<&(String, &str)> = help.iter().flat_map(|(_, r)| r).collect();
    assert!(rows.contains(&&("F5 x".to_string(), "refresh now")));
    assert!(rows.contains(&&("r ctrl-r".to_string(), "roll back (⏎ or y)")));
    assert!(rows.contains(&&("q ctrl-c p".to_string(), "quit")));
    // No file at all: the defaults.
    assert_eq!(
        parse(Path::new("keymap.toml"), "").expect("empty is fine"),
        Keymap::default()
    );
}

#[test]
fn file_errors_name_the_file_line_and_column() {
    let e = parse_err("[keys]\n\"x\" = \"refresh\"\n\"y\" = \"rolback\"\n");
    assert!(e.starts_with("/cfg/keymap.toml:3:7: "), "{e}");
    assert!(e.contains("unknown variant `rolback`"), "{e}");
    assert!(e.contains("move /cfg/keymap.toml away"), "{e}");
    // Actions no file may bind are not in the enum: serde refuses them.
    for unbindable in [
        "confirm",
        "toggle-force",
        "run-command",
        "shift",
        "scale",
        "arm",
        "submit",
    ] {
        let e = parse_err(&format!("[keys]\n\"x\" = \"{unbindable}\"\n"));
        assert!(
            e.contains(&format!("unknown variant `{unbindable}`")),
            "{e}"
        );
    }
    let e = parse_err("[keys]\n\"ctrl-r\" = \"refresh\"\n  \"hyper-q\" = \"quit\"\n");
    assert!(e.starts_with("/cfg/keymap.toml:3:3: "), "{e}");
    assert!(e.contains("unknown key `hyper-q`"), "{e}");
    for (reserved, why) in [
        ("esc", "esc always cancels"),
        ("Enter", "confirms a dialog"),
        ("ctrl-c", "ctrl-c always quits"),
    ] {
        let e = parse_err(&format!("[keys]\n\"{reserved}\" = \"rollback\"\n"));
        assert!(e.starts_with("/cfg/keymap.toml:2:1: "), "{e}");
        assert!(e.contains("cannot be bound") && e.contains(why), "{e}");
    }
    let e = parse_err("[keys]\n\"ctrl-r\" = \"refresh\"\n\"ctrl+r\" = \"quit\"\n");
    assert!(e.contains("`ctrl+r` is the same key as `ctrl-r`"), "{e}");
    let e = parse_err("[key]\n\"x\" = \"refresh\"\n");
    assert!(e.starts_with("/cfg/keymap.toml:1:"), "{e}");
    let e = parse_err("[keys]\n\"x\" = 3\n");
    assert!(e.starts_with("/cfg/keymap.toml:2:7: "), "{e}");
}

#[test]
fn the_file_is_found_beside_the_config_then_in_the_config_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    let xdg = dir.path().join("xdg");
    let home = dir.path().join("home");
    for d in [
        &project,
        &xdg.join("bluegreen"),
        &home.join(".config/bluegreen"),
    ] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let config = project.join("bluegreen.toml");
    let os = |p: &Path| Some(p.as_os_str().to_owned());
    assert_eq!(locate(Some(&config), os(&xdg), os(&home)), None);
    let in_home = home.join(".config/bluegreen/keymap.toml");
    std::fs::write(&in_home, "").expect("write");
    assert_eq!(
        locate(Some(&config), None, os(&home)),
        Some(in_home.clone())
    );
    // A relative XDG_CONFIG_HOME is ignored, as the spec says.
    assert_eq!(
        locate(None, Some("rel".into()), os(&home)),
        Some(in_home.clone())
    );
    assert_eq!(locate(Some(&config), os(&xdg), os(&home)), None);
    let in_xdg = xdg.join("bluegreen/keymap.toml");
    std::fs::write(&in_xdg, "").expect("write");
    assert_eq!(locate(None, os(&xdg), os(&home)), Some(in_xdg.clone()));
    let beside = project.join("keymap.toml");
    std::fs::write(&beside, "").expect("write");
    assert_eq!(locate(Some(&config), os(&xdg), os(&home)), Some(beside));
    assert_eq!(locate(None, os(&xdg), os(&home)), Some(in_xdg));
}

#[test]
fn every_bindable_action_is_in_the_runbook() {
    let runbook = include_str!("../../../../docs/runbook.md");
    for b in Bindable::ALL {
        let name = serde_json::to_value(b).expect("a name");
        let name = name.as_str().expect("a string");
        assert!(
            runbook.contains(&format!("`{name}`")),
            "docs/runbook.md lists `{name}`"
        );
        // And the name parses back.
        let parsed: Bindable =
            serde_json::from_value(serde_json::Value::String(name.into())).expect("parses");
        assert_eq!(parsed, *b);
    }
}

mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Key names as a keymap file may spell them, and nonsense.
    fn key_name() -> impl Strategy<Value = String> {
        let base = prop_oneof![
            "\\PC",
            prop::sample::select(vec![
                "enter",
                "Return",
                "esc",
                "tab",
                "backtab",
                "space",
                "backspace",
                "del",
                "ins",
                "home",
                "end",
                "PgUp",
                "pagedown",
                "up",
                "down",
                "left",
                "right",
                "f0",
                "f1",
                "F12",
                "f24",
                "f25",
                "f999999999999",
                "⏎",
                "←",
                "-",
                "+",
            ])
            .prop_map(str::to_string),
            "\\PC{2,6}",
        ];
        (
            "((ctrl|Control|alt|meta|option|shift|SHIFT|hyper)[-+]){0,3}",
            base,
        )
            .prop_map(|(mods, base)| format!("{mods}{base}"))
    }

    proptest! {
        #![proptest_config(crate::prop::config())]

        #[test]
        fn a_key_name_parses_and_reads_back_or_explains(name in key_name()) {
            match name.parse::<Key>() {
                Ok(k) => prop_assert_eq!(k.to_string().parse::<Key>(), Ok(k), "{} shows as {}", name, k),
                Err(e) => prop_assert!(e.0.contains(&format!("`{name}`")), "{}", e.0),
            }
        }

        #[test]
        fn any_keymap_file_is_a_keymap_or_an_error_naming_the_file(
            lines in prop::collection::vec(
                prop_oneof![
                    "\\PC{0,20}",
                    (key_name(), prop::sample::select(Bindable::ALL)).prop_map(|(k, b)| {
                        let action = serde_json::to_string(&b).expect("a name");
                        format!("{} = {action}", serde_json::to_string(&k).expect("a string"))
                    }),
                    "[a-z]{1,3} = \"[a-z-]{1,12}\"",
                ],
                0..6,
            ),
        ) {
            let text = format!("[keys]\n{}", lines.join("\n"));
            match parse(Path::new("/cfg/keymap.toml"), &text) {
                Ok(keymap) => prop_assert!(!keymap.normal.rows.is_empty()),
                Err(e) => prop_assert!(e.to_string().contains("/cfg/keymap.toml"), "{}", e),
            }
        }
    }
}
