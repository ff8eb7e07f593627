//! The guided workshop as a student plays it: the real `lab workshop` in a real terminal (tmux, 160×45, the
//! guide pane beside the view), every answer typed into the pane after reading it off the dashboard, for each
//! fault variant. Wrong answers are refused with their reason on screen, right ones move the pane on, each fix
//! step completes only once the fault panel's flip shows in the data, and a restarted lab resumes.

use std::time::Duration;

use crate::dashboard::{EPHEMERAL, Tmux, tmux_available};
use crate::replay_shop::TempDir;

/// `lab workshop` on `variant`, without a browser (the shopper's step stays to do), in `data`.
fn workshop(data: &std::path::Path, variant: u32) -> String {
    format!(
        "mkdir -p {0} && cd {0} && {1} workshop --variant {variant} --no-browser --speed max --data-dir {0} \
         {EPHEMERAL}; echo LAB-EXITED $?",
        data.display(),
        env!("CARGO_BIN_EXE_lab"),
    )
}

/// The guide pane's marks once every step but the shopper's is done, the pane on a step done…
const DONE_BUT_THE_BROWSER: &str = "✓✓·✓✓✓✓✓✓✓";
/// …and on the shopper's, as a restarted lab opens it.
const ON_THE_BROWSER: &str = "✓✓▸✓✓✓✓✓✓✓";

/// The word after `after` on the first line of `screen` that has it.
fn word_after<'s>(screen: &'s str, after: &str) -> Option<&'s str> {
    screen
        .lines()
        .find_map(|l| l.split_once(after))
        .and_then(|(_, rest)| rest.split_whitespace().next())
}

/// Types `text` into the guide pane's answer line and sends it.
fn answer(term: &Tmux, text: &str) {
    term.keys(&["A"]);
    term.type_text(text);
    term.keys(&["Enter"]);
}

/// Answers `text` and waits for the lab's verdict; the screen then.
fn verdict(term: &Tmux, text: &str) -> String {
    answer(term, text);
    std::thread::sleep(Duration::from_secs(1));
    term.wait_for("the verdict", Duration::from_secs(60), |s| {
        !s.contains("checking…")
    })
}

fn play(variant: u32) {
    if !tmux_available() {
        return;
    }
    let data = TempDir::new(&format!("workshop-tmux-{variant}"));
    let term = Tmux::start(
        &format!("guide{variant}"),
        160,
        45,
        &workshop(&data.0, variant),
    );
    let minutes = |n: u64| Duration::from_secs(60 * n);
    term.wait_for("the guide pane on its first step", minutes(1), |s| {
        s.contains("Guide 1/10") && s.contains("Find the error and its line")
    });

    // 1. The error's file:line, read off the Errors tab; a wrong service first.
    term.keys(&["5"]);
    let errors = term.wait_for("the error group with its log line", minutes(2), |s| {
        s.contains("raised at services/storefront/src/") && s.contains(" logged ")
    });
    let place = word_after(&errors, "raised at ").unwrap().to_owned();
    answer(&term, &format!("discounts-service {place}"));
    term.wait_for("the wrong service refused", minutes(1), |s| {
        s.contains("✗ That is not the service")
    });
    answer(&term, &format!("store-frontend {place}"));
    term.wait_for("the pane on the logs step", minutes(1), |s| {
        s.contains("Guide 2/10") && s.contains("Read what the logs said")
    });

    // 2. Three words of the line the storefront logged.
    let logged = errors
        .lines()
        .find_map(|l| l.split_once(" logged "))
        .map(|(_, rest)| {
            rest.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap();
    answer(&term, "nothing was logged at all");
    term.wait_for("a quote not in the line refused", minutes(1), |s| {
        s.contains("✗ Those words are not in the log line")
    });
    answer(&term, &logged);
    term.wait_for("the pane on the shopper's step", minutes(1), |s| {
        s.contains("Guide 3/10") && s.contains("See what the shopper saw")
    });

    // 3. No browser here: on to where the time goes, once the slow services have answered often enough.
    term.keys(&[">"]);
    term.wait_for("the bottleneck step", minutes(1), |s| {
        s.contains("Guide 4/10")
    });
    // Until the lab has seen enough of every service, it says so.
    let mut tries = 0;
    loop {
        let screen = verdict(
            &term,
            "store-frontend advertisements-service discounts-service",
        );
        if screen.contains("✗ One of those is slow only because it waits") {
            break;
        }
        assert!(
            screen.contains("✗ The lab has seen too few") || screen.contains("✗ Nothing is slow"),
            "{screen}"
        );
        tries += 1;
        assert!(tries < 20, "the lab never saw the slow services:\n{screen}");
        std::thread::sleep(Duration::from_secs(3));
    }
    answer(&term, "advertisements-service and discounts-service");
    term.wait_for("the bottleneck answered", minutes(1), |s| {
        s.contains("Guide 3/10")
    });

    // 4. The N+1: the table its statement reads, off the Insights tab.
    term.keys(&["6"]);
    let insights = term.wait_for("the N+1 finding", minutes(2), |s| {
        s.contains("Insights ·") && s.contains("discounts-service") && s.contains(" FROM ")
    });
    let table = word_after(&insights, " FROM ").unwrap().to_owned();
    term.keys(&[">", ">"]);
    term.wait_for("the N+1 step", minutes(1), |s| s.contains("Guide 5/10"));
    answer(&term, &format!("discounts-service {table}"));
    term.wait_for("the N+1 answered", minutes(1), |s| s.contains("✓✓▸✓✓"));

    // 5. The fixes: not done while the faults are on, done once the new versions show it.
    term.keys(&[">", ">", ">"]);
    term.wait_for("the first fix step, waiting on the data", minutes(1), |s| {
        s.contains("Guide 6/10") && s.contains("not yet: store-frontend runs 1.0 only")
    });
    // The fault panel: the banner first, then (past the cart badge) ads, discounts' sleep and loop.
    term.keys(&[
        "f", "Enter", "j", "j", "Enter", "j", "Enter", "j", "Enter", "Esc",
    ]);
    term.wait_for("every fix seen and verified", minutes(4), |s| {
        s.contains(DONE_BUT_THE_BROWSER)
    });

    // q quits; started again, the lab resumes where the student was.
    term.keys(&["q"]);
    let end = term.wait_for("the lab to stop", minutes(1), |s| s.contains("LAB-EXITED"));
    assert!(end.contains("LAB-EXITED 0"), "{end}");
    drop(term);
    let again = Tmux::start(
        &format!("guide{variant}again"),
        160,
        45,
        &workshop(&data.0, variant),
    );
    again.wait_for("the resumed workshop", minutes(1), |s| {
        s.contains(ON_THE_BROWSER)
    });
    again.keys(&["q"]);
    again.wait_for("the lab to stop", minutes(1), |s| s.contains("LAB-EXITED"));
}

#[test]
fn the_original_workshop_in_the_dashboard() {
    play(0);
}

#[test]
fn variant_1_in_the_dashboard() {
    play(1);
}

#[test]
fn variant_2_in_the_dashboard() {
    play(2);
}
