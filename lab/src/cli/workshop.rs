//! `lab workshop`: `lab up` with the workshop's guide — its pane in the dashboard (`W`), its routes on the
//! query API (`/api/workshop`), its progress kept in the data directory — and the class: a student's lab
//! reports to the instructor's (`--class URL`), the instructor's lists the class (`--instructor`).

use clap::Args;
use lab::guide::Guide;
use lab::guide::class::Class;
use shop_runtime::Variant;

use super::up::UpArgs;

#[derive(Args, Debug)]
pub(crate) struct WorkshopArgs {
    /// Your name, shown with your progress; it also picks your fault variant (unless --variant does).
    #[arg(long, env = "LAB_STUDENT")]
    student: Option<String>,

    /// Which version of each fault the shop runs, 0 to 2: which pages lack their ad and where the misplaced
    /// banner call sits, how long each slow service sleeps, which relation the N+1 walks. Students beside each
    /// other on different variants find different answers. [default: picked by --student's name, else 0, the
    /// original workshop]
    #[arg(long, env = "LAB_VARIANT")]
    variant: Option<Variant>,

    /// The instructor's lab (its query API's URL, `http://host:8787`): your progress — the step you are on,
    /// time spent, hints used, wrong answers — is reported there every few seconds.
    #[arg(long, value_name = "URL", requires = "student")]
    class: Option<String>,

    /// Run the instructor's lab: the class's progress, as the students' labs report it, in the dashboard's
    /// pane (W), on `GET /api/class`, and printed when the lab stops (`--report json` for grading; `lab class`
    /// prints it any time). The lab runs as any other, for demonstrating.
    #[arg(long, conflicts_with_all = ["student", "class", "variant"])]
    instructor: bool,

    /// Leave the headless Chromium out: without it no browser reports what a shopper saw, and the
    /// "what the shopper saw" step cannot be answered. By default it walks the shop when Chromium is found.
    #[arg(long, conflicts_with = "browser")]
    no_browser: bool,

    #[command(flatten)]
    up: UpArgs,
}

pub(crate) async fn workshop(mut args: WorkshopArgs) -> anyhow::Result<()> {
    if !args.up.browser && !args.no_browser {
        match lab::browse::find_chromium(args.up.chromium.chromium.as_deref()) {
            Ok(_) => args.up.browser = true,
            Err(err) => eprintln!(
                "No headless Chromium ({err:#}): the \"what the shopper saw\" step will have no browser data."
            ),
        }
    }
    let variant = match (args.variant, &args.student) {
        (Some(variant), _) => variant,
        (None, Some(name)) => Variant::of_name(name),
        (None, None) => Variant::ORIGINAL,
    };
    if args.instructor {
        println!("The instructor's lab: students report to it with --class.");
        let workshop = Workshop {
            class: Some(Class::default()),
            ..Workshop::default()
        };
        return super::up::run(args.up, workshop).await;
    }
    let guide = Guide::open(&args.up.data_dir, args.student.clone(), variant)?;
    println!(
        "The shop's faults are variant {variant} (of 0 to {}).",
        Variant::COUNT - 1
    );
    println!(
        "The workshop's progress is kept in {} (a restart resumes it).",
        args.up.data_dir.join("guide.json").display()
    );
    let workshop = Workshop {
        guide: Some(guide),
        class: None,
        report_to: args.class,
    };
    super::up::run(args.up, workshop).await
}

/// What `lab workshop` adds to `lab up`.
#[derive(Debug, Default)]
pub(crate) struct Workshop {
    /// The student's guide.
    pub(crate) guide: Option<Guide>,
    /// The class, in the instructor's lab.
    pub(crate) class: Option<Class>,
    /// The instructor's lab a student reports to.
    pub(crate) report_to: Option<String>,
}
